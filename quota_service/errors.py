"""One exception hierarchy; each maps to an HTTP status and a `{detail, code}` body."""

from __future__ import annotations


class QuotaError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class InvalidInput(QuotaError):
    status_code = 422
    code = "invalid_input"


class NotAuthenticated(QuotaError):
    status_code = 401
    code = "not_authenticated"


class PermissionDenied(QuotaError):
    status_code = 403
    code = "forbidden"


class NotFound(QuotaError):
    status_code = 404
    code = "not_found"


class Conflict(QuotaError):
    status_code = 409
    code = "conflict"


class UpstreamUnavailable(QuotaError):
    status_code = 503
    code = "upstream_unavailable"


DATABASE_UNAVAILABLE = "the database cannot take the request now; try again shortly"


class DatabaseUnavailable(QuotaError):
    status_code = 503
    code = "database_unavailable"
