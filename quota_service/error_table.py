"""The one table from exceptions to error responses.

The JSON API (app.py's exception handlers), the pages (web/render.py's `PageRoute`) and the
edge (edge.py's refusals) all look an exception up here, so the same error gets the same
status and code whichever way it is served: a JSON `{detail, code}` body or an error page.
Only the pages' own rules come first: no session → the sign-in page, and a URL whose parts do
not parse is no page (404).

Routes declare the error responses they can give with `responses(...)`, so the OpenAPI
document lists them with the body's model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from . import db
from .errors import DATABASE_UNAVAILABLE, QuotaError

log = logging.getLogger("quota_service")


class ErrorBody(BaseModel):
    """Every error's JSON body: what went wrong, in words, and a stable code."""

    detail: str
    code: str


@dataclass(frozen=True)
class ErrorResponse:
    """An error as served: status, words, code; the input field it concerns, if one; and for
    a rate limit, the seconds to wait (`Retry-After`)."""

    status: int
    detail: str
    code: str
    field: str | None = None
    retry_after: int | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}

    def json(self) -> JSONResponse:
        body = ErrorBody(detail=self.detail, code=self.code).model_dump()
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body",)) or "request"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _first_field(exc: RequestValidationError) -> str | None:
    for err in exc.errors()[:1]:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        if loc:
            return loc[0]
    return None


def _quota(exc: QuotaError, where: str) -> ErrorResponse:
    retry_after = getattr(exc, "retry_after", None)
    return ErrorResponse(
        exc.status_code,
        exc.detail,
        exc.code,
        exc.field,
        retry_after if isinstance(retry_after, int) else None,
    )


def _invalid(exc: RequestValidationError, where: str) -> ErrorResponse:
    return ErrorResponse(422, validation_message(exc), "invalid_input", _first_field(exc))


def _http(exc: StarletteHTTPException, where: str) -> ErrorResponse:
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no such endpoint: {where}"
    return ErrorResponse(exc.status_code, detail, code)


def _integrity(exc: IntegrityError, where: str) -> ErrorResponse:
    log.warning("integrity conflict on %s: %s", where, exc.orig)
    return ErrorResponse(409, "the change conflicts with a concurrent one; retry", "conflict")


def _database(exc: Exception, where: str) -> ErrorResponse:
    if not db.unavailable(exc):
        return _internal(exc, where)
    # Cannot connect, the connection dropped mid-request, or no pooled one came free.
    log.error("database unavailable on %s: %s: %s", where, type(exc).__name__, exc)
    return ErrorResponse(503, DATABASE_UNAVAILABLE, "database_unavailable")


def _internal(exc: BaseException, where: str) -> ErrorResponse:
    log.error("unhandled error on %s", where, exc_info=exc)
    return ErrorResponse(500, "internal error; it has been logged", "internal_error")


# First match wins (IntegrityError is a DBAPIError; everything is an Exception).
TABLE: tuple[tuple[type[Exception], Callable[[Any, str], ErrorResponse]], ...] = (
    (QuotaError, _quota),
    (RequestValidationError, _invalid),
    (StarletteHTTPException, _http),
    (IntegrityError, _integrity),
    (DBAPIError, _database),
    (PoolTimeout, _database),
    (Exception, _internal),
)


def error_response(exc: BaseException, where: str) -> ErrorResponse:
    """The response for `exc`, raised while serving `where` ("METHOD /path", for the logs
    and an unknown endpoint's message)."""
    for kind, build in TABLE:
        if isinstance(exc, kind):
            return build(exc, where)
    return _internal(exc, where)


DESCRIPTIONS = {
    400: "The request is malformed",
    401: "No token, or one the hub does not know: sign in, or send a hub API token",
    403: "The token is not allowed this",
    404: "No such thing (or not yours to see)",
    409: "Conflicts with the current state, or with a concurrent change",
    422: "Invalid input; `detail` names the field",
    429: "Too many requests; wait `Retry-After` seconds",
    503: "The database (or the hub) cannot take the request now; try again shortly",
}
# What every route behind a token can answer besides its own refusals.
AUTHENTICATED = (401, 403, 422, 429, 503)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for a route: these statuses, each with the error body's model."""
    return {
        status: {"model": ErrorBody, "description": DESCRIPTIONS[status]}
        for status in sorted(set(statuses))
    }


def api_errors(*extra: int) -> dict[int | str, dict[str, Any]]:
    """`responses(...)` for a route behind a token: `AUTHENTICATED` and its own `extra`."""
    return responses(*AUTHENTICATED, *extra)
