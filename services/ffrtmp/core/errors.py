"""Domain errors. Each subclass names the gRPC status it becomes; the master maps
them to statuses in one interceptor, so no servicer needs a try/except."""

from __future__ import annotations


class FfrtmpError(Exception):
    """Root of every error a client may see. `code` is a grpc.StatusCode name."""

    code = "INTERNAL"
    # Sent as trailing metadata with the status (e.g. retry-after-ms).
    metadata: tuple[tuple[str, str], ...] = ()

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(FfrtmpError):
    code = "INVALID_ARGUMENT"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class NotFound(FfrtmpError):
    code = "NOT_FOUND"


class FailedPrecondition(FfrtmpError):
    code = "FAILED_PRECONDITION"


class PermissionDenied(FfrtmpError):
    code = "PERMISSION_DENIED"


class Unauthenticated(FfrtmpError):
    code = "UNAUTHENTICATED"


class ResourceExhausted(FfrtmpError):
    code = "RESOURCE_EXHAUSTED"

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        if retry_after_s is not None:
            self.metadata = (("retry-after-ms", str(max(1, round(retry_after_s * 1000)))),)


class Unavailable(FfrtmpError):
    code = "UNAVAILABLE"


class AlreadyExists(FfrtmpError):
    code = "ALREADY_EXISTS"


class NotLeading(Unavailable):
    """This master is a standby (or has just stepped down): the call belongs to
    the leader, whose address, when known, travels in the trailing metadata."""

    def __init__(self, leader: str) -> None:
        from ffrtmp.core.masters import LEADER_KEY

        super().__init__(
            f"this master is not the leader; the leader is at {leader}"
            if leader
            else "this master is not the leader and no leader is elected yet; try again shortly"
        )
        self.leader = leader
        if leader:
            self.metadata = ((LEADER_KEY, leader),)
