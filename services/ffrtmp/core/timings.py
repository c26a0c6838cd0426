"""Default liveness timings, shared by the master (which decides them) and the worker
(which needs a value before the master's Welcome tells it the real one)."""

from __future__ import annotations

HEARTBEAT_INTERVAL_S = 30.0
HEARTBEAT_TIMEOUT_S = 120.0
