"""Who may call what. docs/SECURITY.md shows this table to people.

A caller is a worker (its certificate names its node) or a client with one of
four roles. A submitter may touch only the jobs it owns; a viewer reads but
changes nothing and sees no logs (logs can hold stream keys). Anything not
listed here is denied.
"""

from __future__ import annotations

from dataclasses import dataclass

from ffrtmp.core.errors import PermissionDenied

ADMIN, OPERATOR, SUBMITTER, VIEWER = "admin", "operator", "submitter", "viewer"
ROLES = (ADMIN, OPERATOR, SUBMITTER, VIEWER)
READERS = frozenset(ROLES)
CHANGERS = frozenset({ADMIN, OPERATOR, SUBMITTER})
OPERATORS = frozenset({ADMIN, OPERATOR})


@dataclass(frozen=True, slots=True)
class Rule:
    roles: frozenset[str] = frozenset()  # client roles allowed
    workers: bool = False  # worker certificates allowed
    own_only_for: frozenset[str] = frozenset()  # roles limited to their own jobs
    any_peer: bool = False  # any authenticated certificate (health, reflection)


def _job(name: str) -> str:
    return f"/ffrtmp.v1.JobService/{name}"


OWN = Rule(CHANGERS, own_only_for=frozenset({SUBMITTER}))
RULES: dict[str, Rule] = {
    _job("SubmitJob"): Rule(CHANGERS),
    _job("GetJob"): Rule(READERS),
    _job("ListJobs"): Rule(READERS),
    _job("WatchJob"): Rule(READERS),
    _job("GetQueueStats"): Rule(READERS),
    _job("ListScenarios"): Rule(READERS),
    _job("CancelJob"): OWN,
    _job("RetryJob"): OWN,
    _job("PauseJob"): OWN,
    _job("ResumeJob"): OWN,
    _job("GetJobLogs"): OWN,
    # Per blob, BlobService checks the name space and the worker's lease again.
    **{f"/ffrtmp.v1.BlobService/{m}": Rule(READERS, workers=True) for m in ("Read", "Stat")},
    **{
        f"/ffrtmp.v1.BlobService/{m}": Rule(CHANGERS, workers=True)
        for m in ("Write", "QueryWriteStatus", "CompletePresignedWrite")
    },
    "/ffrtmp.v1.BlobService/Presign": Rule(READERS, workers=True),
    "/ffrtmp.v1.NodeService/ListNodes": Rule(READERS),
    "/ffrtmp.v1.NodeService/GetNode": Rule(READERS),
    "/ffrtmp.v1.NodeService/DrainNode": Rule(OPERATORS),
    "/ffrtmp.v1.NodeService/UndrainNode": Rule(OPERATORS),
    "/ffrtmp.v1.WorkerService/Connect": Rule(workers=True),
    "/ffrtmp.v1.AdminService/CreateApiKey": Rule(frozenset({ADMIN})),
    "/ffrtmp.v1.AdminService/ListApiKeys": Rule(frozenset({ADMIN})),
    "/ffrtmp.v1.AdminService/RevokeApiKey": Rule(frozenset({ADMIN})),
    "/ffrtmp.v1.AdminService/ListAuditEvents": Rule(frozenset({ADMIN})),
    "/ffrtmp.v1.ClusterService/GetClusterStatus": Rule(READERS),
    "/grpc.health.v1.Health/Check": Rule(any_peer=True),
    "/grpc.health.v1.Health/Watch": Rule(any_peer=True),
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": Rule(any_peer=True),
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo": Rule(any_peer=True),
}


def authorize(method: str, kind: str, role: str | None) -> Rule:
    """The method's rule, or PermissionDenied saying who may call it."""
    rule = RULES.get(method)
    short = method.rsplit("/", 1)[-1]
    if rule is None:
        raise PermissionDenied(f"{short} is not open to anyone")
    if rule.any_peer and kind in ("client", "worker", "master"):
        return rule
    if kind == "worker":
        if rule.workers:
            return rule
        raise PermissionDenied(f"a worker certificate may only open a worker stream, not {short}")
    if kind == "client" and role in rule.roles:
        return rule
    allowed = ", ".join(r for r in ROLES if r in rule.roles) or "workers only"
    raise PermissionDenied(f"{short} needs role {allowed}; you are {role or kind}")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who a request acts for: an API key's user, or the certificate's name."""

    name: str
    role: str | None
    kind: str = "client"

    def may_touch(self, owner: str) -> bool:
        return self.role in (ADMIN, OPERATOR) or (self.role == SUBMITTER and owner == self.name)


SYSTEM = Actor("system", ADMIN, "master")


def check_job_access(actor: Actor, owner: str, job_id: str) -> None:
    """Changing a job, or reading its logs: operators and admins, or its owner."""
    if not actor.may_touch(owner):
        raise PermissionDenied(
            f"job {job_id} belongs to {owner or 'nobody'}; {actor.name} ({actor.role}) "
            "may only touch its own jobs"
            if actor.role == SUBMITTER
            else f"role {actor.role} may not change jobs or read their logs"
        )
