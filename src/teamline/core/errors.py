"""Errors actions raise; views, API and consumers turn them into 4xx answers, never a 500."""


class TeamlineError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(TeamlineError):
    """Also what access helpers raise for objects outside the actor's scope (no existence leak)."""

    code = "not_found"
    status = 404


class InvalidInput(TeamlineError):
    code = "invalid"
    status = 400


class Forbidden(TeamlineError):
    code = "forbidden"
    status = 403


class RateLimited(TeamlineError):
    """`retry_after`: seconds until the window that refused it ends (the API's Retry-After)."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)


class Conflict(InvalidInput):
    """The request is well formed but the thing it acts on is not in a state that allows it
    (already assigned, resolved, no longer waiting…): 409, so clients can tell it from bad
    input. An InvalidInput, so every edge that answers those answers this too."""

    code = "conflict"
    status = 409
