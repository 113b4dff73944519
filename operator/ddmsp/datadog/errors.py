"""One error taxonomy for every Datadog API call.

Errors carry the HTTP method, the URL path (never the query string, headers or keys),
the status and the API's own error messages. They never carry a request object.
"""

from __future__ import annotations

from collections.abc import Iterable


class DatadogError(Exception):
    """Base of every error the Datadog client raises.

    `retryable`: a later attempt of the same call may succeed without any change.
    `may_have_committed`: the call might have taken effect on Datadog's side
    (only ever True for non-idempotent calls whose outcome is not known).
    """

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        api_errors: Iterable[str] = (),
        method: str | None = None,
        path: str | None = None,
        may_have_committed: bool = False,
    ) -> None:
        self.message = message
        self.status = status
        self.api_errors: list[str] = list(api_errors)
        self.method = method
        self.path = path
        self.may_have_committed = may_have_committed
        # Set by the client: the route template ("POST /api/v1/org") and where the keys
        # came from ("Secret ns/name"), so errors can name a permission and a Secret.
        self.route: str | None = None
        self.keys_source: str = ""
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = " ".join(p for p in (self.method, self.path) if p)
        text = self.message
        if where:
            text += f" [{where}"
            text += f" -> {self.status}]" if self.status is not None else "]"
        if self.api_errors:
            text += ": " + "; ".join(self.api_errors)
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, method={self.method!r}, "
            f"path={self.path!r}, api_errors={self.api_errors!r}, message={self.message!r})"
        )

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # Keep pickling (multiprocessing, some loggers) working with keyword-only args.
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[DatadogError], state: dict[str, object]) -> DatadogError:
    err = cls.__new__(cls)
    err.__dict__.update(state)
    Exception.__init__(err, str(err))
    return err


class AuthenticationError(DatadogError):
    """401 or 403: the keys are wrong, revoked, or lack the permission for this call."""


class ForbiddenError(AuthenticationError):
    """403: Datadog answers 403 both for an invalid key and for a missing permission."""


class NotFoundError(DatadogError):
    """404."""


class ConflictError(DatadogError):
    """409 (for example a role name already taken)."""


class ValidationError(DatadogError):
    """400/415/422: the API rejected the request; `api_errors` holds its reasons."""


class RateLimitedError(DatadogError):
    """429 beyond what the client is willing to wait for. Nothing was executed."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        reset_seconds: float | None = None,
        limit_name: str | None = None,
        **kwargs: object,
    ) -> None:
        self.reset_seconds = reset_seconds
        self.limit_name = limit_name
        super().__init__(message, **kwargs)  # type: ignore[arg-type]

    def __str__(self) -> str:
        text = super().__str__()
        extra = []
        if self.limit_name:
            extra.append(f"limit={self.limit_name}")
        if self.reset_seconds is not None:
            extra.append(f"reset_in={self.reset_seconds:g}s")
        return f"{text} ({', '.join(extra)})" if extra else text


class ServerError(DatadogError):
    """5xx (after retries, for idempotent calls)."""

    retryable = True


class TransportError(DatadogError):
    """The request failed on the network (connection refused, timeout ...).

    Raised only when the call is known not to have taken effect, or is idempotent.
    """

    retryable = True


class OutcomeUnknownError(DatadogError):
    """A non-idempotent call was sent but its response was lost.

    The call may or may not have taken effect. Never retry blindly: look first.
    Deliberately *not* a TransportError subclass, so generic retry code skips it.
    """

    def __init__(self, message: str, **kwargs: object) -> None:
        kwargs.setdefault("may_have_committed", True)
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class ResponseFormatError(DatadogError):
    """A success response whose body did not have the expected shape."""


class UnexpectedStatusError(DatadogError):
    """A status outside the taxonomy (e.g. 405, 413)."""


def error_for_status(status: int) -> type[DatadogError]:
    """The error class for an HTTP error status."""
    if status == 401:
        return AuthenticationError
    if status == 403:
        return ForbiddenError
    if status == 404:
        return NotFoundError
    if status == 409:
        return ConflictError
    if status in (400, 413, 415, 422):
        return ValidationError
    if status == 429:
        return RateLimitedError
    if status >= 500:
        return ServerError
    return UnexpectedStatusError


ORG_NOT_ACCESSIBLE = "Not allowed to access this organization"


def org_not_accessible(exc: BaseException) -> bool:
    """True for Datadog's answer to an org ID the keys may not touch, unknown or another
    org's: 400 "Not allowed to access this organization" on GET/PUT /api/v1/org/{public_id}
    and the IdP upload (recorded: DataDog/datadog-api-client-go
    tests/api/datadogV1/cassettes/TestOrgsGetErrors/400_Bad_Request.yaml). Not a 404, and not
    a missing permission: the keys work, the ID is not theirs."""
    return (isinstance(exc, ValidationError) and exc.status == 400
            and any(ORG_NOT_ACCESSIBLE.lower() in e.lower() for e in exc.api_errors))
