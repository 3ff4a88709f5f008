"""One exception hierarchy; each maps to an HTTP status and a `{detail, code}` body.

quota_service/error_table.py is the one table from these (and the framework's and the
database's exceptions) to responses, for the JSON API and the pages alike.
"""

from __future__ import annotations

# The input field a refusal concerns, by its code, for the services' refusals that name one
# (a page shows the message next to that field; `None`: the form as a whole).
FIELD_OF_CODE = {
    "proposal_ref_required": "proposal_ref",
    "allocation_required": "allocation_id",
    "tier_mismatch": "allocation_id",
    "not_renewable": "allocation_id",
    "allocation_revoked": "allocation_id",
}


class QuotaError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, detail: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        # The input field this concerns, if one: given, or known from the code.
        self.field: str | None = field if field is not None else FIELD_OF_CODE.get(self.code)


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
