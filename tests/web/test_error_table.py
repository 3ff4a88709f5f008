"""One table from exceptions to responses (issue 14 item 3): the JSON API and the pages give
the same status and code for the same error; routes declare their errors in the OpenAPI."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from quota_service.app import create_app
from quota_service.config import Settings
from quota_service.errors import (
    DATABASE_UNAVAILABLE,
    Conflict,
    DatabaseUnavailable,
    InvalidInput,
    NotFound,
    PermissionDenied,
    QuotaError,
    UpstreamUnavailable,
)
from quota_service.limits import RateLimited
from quota_service.web.render import PageRoute

PREFIX = "/services/quota"
CODE_RE = re.compile(r'data-code="([^"]*)"')

# Each error as something raised while serving, and the status and code both must answer.
ERRORS: dict[str, tuple[Callable[[], Exception], int, str]] = {
    "not_found": (lambda: NotFound("no request #7"), 404, "not_found"),
    "forbidden": (lambda: PermissionDenied("admins only"), 403, "forbidden"),
    "conflict": (lambda: Conflict("exists", code="duplicate_name"), 409, "duplicate_name"),
    "invalid": (lambda: InvalidInput("since is after until"), 422, "invalid_input"),
    "quota": (lambda: QuotaError("odd"), 400, "bad_request"),
    "upstream": (lambda: UpstreamUnavailable("hub down"), 503, "upstream_unavailable"),
    "db_unavailable": (
        lambda: DatabaseUnavailable(DATABASE_UNAVAILABLE),
        503,
        "database_unavailable",
    ),
    "rate_limited": (lambda: RateLimited("slow down", retry_after=7), 429, "rate_limited"),
    "integrity": (
        lambda: IntegrityError("INSERT", {}, Exception("duplicate key")),
        409,
        "conflict",
    ),
    "pool_timeout": (lambda: PoolTimeout("QueuePool limit reached"), 503, "database_unavailable"),
    "operational": (
        lambda: OperationalError("SELECT 1", {}, Exception("server closed the connection")),
        503,
        "database_unavailable",
    ),
    "dbapi_bug": (
        lambda: DBAPIError("SELECT", {}, Exception("syntax error")),
        500,
        "internal_error",
    ),
    "bug": (lambda: RuntimeError("a bug"), 500, "internal_error"),
}


def _raiser(make: Callable[[], Exception]) -> Callable[[], None]:
    def raiser() -> None:
        raise make()

    return raiser


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """The real app (edge, session, handlers) plus one JSON route and one page per error."""
    db = Path(tmp_path_factory.mktemp("errors")) / "quota.sqlite"
    settings = Settings(
        database_url=f"sqlite:///{db}", fail_on_stale_schema=False, session_secret="x" * 32
    )
    app = create_app(settings)
    api = APIRouter(prefix=f"{PREFIX}/api/v1/test-errors")
    pages = APIRouter(prefix=f"{PREFIX}/test-errors", route_class=PageRoute)
    for name, (make, _, _) in ERRORS.items():
        raiser = _raiser(make)
        api.add_api_route(f"/{name}", raiser, methods=["GET"], include_in_schema=False)
        pages.add_api_route(f"/{name}", raiser, methods=["GET"], include_in_schema=False)
    # Ahead of the pages' catch-all (a 404 page for any unknown path under the prefix).
    app.router.routes[:0] = [*api.routes, *pages.routes]
    return app


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_pages_and_the_api_answer_the_same_error_alike(client: TestClient, name: str) -> None:
    _, status, code = ERRORS[name]
    api = client.get(f"{PREFIX}/api/v1/test-errors/{name}")
    page = client.get(f"{PREFIX}/test-errors/{name}")
    assert (api.status_code, api.json()["code"]) == (status, code), api.text
    assert set(api.json()) == {"detail", "code"}
    assert page.status_code == status, page.text[:500]
    assert page.headers["content-type"].startswith("text/html")
    shown = CODE_RE.search(page.text)
    assert shown and shown.group(1) == code, page.text[:500]
    if name == "rate_limited":
        assert api.headers["Retry-After"] == page.headers["Retry-After"] == "7"
    if status >= 500:  # nothing of the exception leaks
        assert "a bug" not in page.text + api.text
        assert "syntax error" not in page.text + api.text


def test_a_pool_timeout_is_a_503_on_pages_too(client: TestClient) -> None:
    page = client.get(f"{PREFIX}/test-errors/pool_timeout")
    assert page.status_code == 503
    assert "try again" in page.text


def test_errors_carry_the_field_they_concern() -> None:
    assert InvalidInput("needs a reference", code="proposal_ref_required").field == "proposal_ref"
    assert Conflict("revoked", code="allocation_revoked").field == "allocation_id"
    assert InvalidInput("bad", field="justification").field == "justification"
    assert NotFound("no such request").field is None


def test_the_openapi_lists_each_routes_error_responses(app: FastAPI) -> None:
    doc = app.openapi()
    paths = doc["paths"]
    api = f"{PREFIX}/api/v1"

    def statuses(path: str, method: str) -> set[str]:
        return set(paths[f"{api}{path}"][method]["responses"])

    assert {"403", "404", "409", "422"} <= statuses("/admin/requests/{request_id}/approve", "post")
    assert {"403", "404", "409", "422"} <= statuses("/consortia/{consortium_id}/members", "post")
    assert {"403", "404", "409", "422"} <= statuses("/me/requests", "post")
    assert {"403", "404", "422"} <= statuses("/admin/users/{username}", "get")
    assert "404" in statuses("/hub/users/{username}/restore", "get")
    for path, methods in paths.items():
        if "/health" in path or "test-errors" in path:
            continue
        for method, op in methods.items():
            declared = op["responses"]
            assert {"401", "403", "422", "503"} <= set(declared), (method, path)
            for status, response in declared.items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, status)
    assert set(doc["components"]["schemas"]["ErrorBody"]["properties"]) == {"detail", "code"}
