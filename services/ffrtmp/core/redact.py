"""What a reader may see of a job that is not theirs to touch.

Stream URLs carry their keys (`rtmp://host/live/KEY`, `?passphrase=`, user:pass@),
and ffmpeg's log and error text repeat them. Whoever may read a job's logs (its
owner, operators, admins: `Actor.may_touch`) sees everything; any other reader
(viewers, other submitters) sees URLs cut to their scheme and host, no log tail
and no error text. Every job a reader is shown passes through `for_reader`.
"""

from __future__ import annotations

import re
from dataclasses import replace

from ffrtmp.core.authz import Actor
from ffrtmp.core.model import Job

HIDDEN = "(hidden: only the job's owner, operators and admins see this)"
# scheme://[userinfo@]host[:port] then anything up to a space or quote.
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)(?:[^/\s'\"@]*@)?([^/\s'\"?#]*)[^\s'\"]*", re.ASCII)


def hide_urls(text: str) -> str:
    """Every URL in `text` cut to scheme and host."""
    return _URL.sub(lambda m: f"{m.group(1)}{m.group(2)}/…", text)


def for_reader(job: Job, actor: Actor) -> Job:
    if actor.may_touch(job.owner):
        return job
    spec = replace(
        job.spec, input=hide_urls(job.spec.input), output=hide_urls(job.spec.output)
    )
    return replace(
        job,
        spec=spec,
        log_tail="",
        error=HIDDEN if job.error else "",
        output=hide_urls(job.output),
        events=[replace(e, reason=hide_urls(e.reason)) for e in job.events],
    )
