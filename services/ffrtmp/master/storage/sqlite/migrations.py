"""Versioned schema migrations of the SQLite store. Append only: a released
migration never changes."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

MIGRATIONS: list[str] = [
    # 1: jobs, their full state history, and the nodes seen.
    """
    CREATE TABLE jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        request_id TEXT UNIQUE,
        spec TEXT NOT NULL,
        queue TEXT NOT NULL,
        priority TEXT NOT NULL,
        state INTEGER NOT NULL,
        node_id TEXT NOT NULL DEFAULT '',
        attempt INTEGER NOT NULL DEFAULT 0,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        progress TEXT NOT NULL DEFAULT '{}',
        exit_code INTEGER NOT NULL DEFAULT 0,
        error TEXT NOT NULL DEFAULT '',
        failure_reason TEXT NOT NULL DEFAULT '',
        log_tail TEXT NOT NULL DEFAULT '',
        output TEXT NOT NULL DEFAULT '',
        output_bytes INTEGER NOT NULL DEFAULT 0,
        not_before_ms INTEGER NOT NULL DEFAULT 0,
        retry_base INTEGER NOT NULL DEFAULT 0,
        needs TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX jobs_by_state ON jobs(state, seq);
    CREATE INDEX jobs_by_node ON jobs(node_id, seq);
    CREATE TABLE job_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        from_state INTEGER,
        to_state INTEGER NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        node_id TEXT NOT NULL DEFAULT '',
        attempt INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX job_events_by_job ON job_events(job_id, id);
    CREATE TABLE nodes (
        id TEXT PRIMARY KEY,
        capabilities TEXT NOT NULL DEFAULT '{}',
        address TEXT NOT NULL DEFAULT '',
        first_seen_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL,
        drained INTEGER NOT NULL DEFAULT 0
    );
    """,
    # 2: job owners, API keys (hashes only) and the audit log.
    """
    ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
    CREATE INDEX jobs_by_owner ON jobs(owner, seq);
    -- Retention finds old terminal jobs by state and age.
    CREATE INDEX jobs_by_state_updated ON jobs(state, updated_ms);
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        user TEXT NOT NULL,
        role TEXT NOT NULL,
        secret_sha256 BLOB NOT NULL,
        created_ms INTEGER NOT NULL,
        created_by TEXT NOT NULL DEFAULT '',
        revoked_ms INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms INTEGER NOT NULL,
        actor TEXT NOT NULL,
        role TEXT NOT NULL DEFAULT '',
        action TEXT NOT NULL,
        target TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT ''
    );
    """,
    # 3: what a successful run wrote (OutputInfo as JSON), probed by the worker.
    """
    ALTER TABLE jobs ADD COLUMN output_info TEXT NOT NULL DEFAULT '';
    """,
    # 4: attempts lost to the infrastructure, counted apart from the job's own failures.
    """
    ALTER TABLE jobs ADD COLUMN lost_attempts INTEGER NOT NULL DEFAULT 0;
    """,
    # 5: job graphs: a job's group, what it waits for (JSON list), group jobs.
    """
    ALTER TABLE jobs ADD COLUMN parent_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE jobs ADD COLUMN depends_on TEXT NOT NULL DEFAULT '';
    ALTER TABLE jobs ADD COLUMN grp INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX jobs_by_parent ON jobs(parent_id, seq) WHERE parent_id != '';
    """,
    # 6: the queued jobs in the heaps' order, holding all a restart reads of them
    # (state 1 = QUEUED): read without a visit to the table, and sorted already.
    """
    CREATE INDEX jobs_queued ON jobs(queue, priority, needs, seq, id, created_ms)
        WHERE state = 1;
    """,
]


def migrate(conn: sqlite3.Connection, migrations: Sequence[str] = MIGRATIONS) -> int:
    """Bring the schema up to date; returns the resulting version."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > len(migrations):
        raise RuntimeError(
            f"database schema version {version} is newer than this ffrtmp "
            f"({len(migrations)}); upgrade ffrtmp"
        )
    for i in range(version, len(migrations)):
        # One script per step, run by SQLite's own parser (a trigger body or a
        # string may hold semicolons), inside a transaction with its version.
        try:
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{migrations[i]}\n;\nPRAGMA user_version = {i + 1};\nCOMMIT;"
            )
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return len(migrations)
