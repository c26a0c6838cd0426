"""`ffrtmp_certificate_expiry_seconds`: how long the master's own certificate
and its CA stay valid, computed at scrape time from the files on disk, so a
rotated certificate (reloaded on SIGHUP) and plain passing time both show
without any timer."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from ffrtmp.master.observe.metrics import MasterMetrics
from ffrtmp.tls import pki

log = logging.getLogger(__name__)


def _seconds_left(path: Path) -> float:
    try:
        info = pki.describe(path)
    except (OSError, ValueError) as exc:
        log.warning("cannot read %s for its expiry: %s", path, exc)
        return float("nan")  # no sample value rather than a misleading one
    return (info.not_after - dt.datetime.now(dt.UTC)).total_seconds()


def watch_certificates(metrics: MasterMetrics, **certs: Path) -> None:
    """One labelled gauge child per certificate, e.g. master=..., ca=..."""
    for name, path in certs.items():
        metrics.certificate_expiry.labels(name).set_function(
            lambda p=path: _seconds_left(p)  # type: ignore[misc]
        )
