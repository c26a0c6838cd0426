"""Moved to tests/helpers/ (jobs.py and scrape.py); this name stays only so that
tests written against it still import. New tests import from tests.helpers."""

from tests.helpers.jobs import LOG_TIME, TERMINAL, event_states, log_time, wait_job
from tests.helpers.scrape import metrics

__all__ = ["LOG_TIME", "TERMINAL", "event_states", "log_time", "metrics", "wait_job"]
