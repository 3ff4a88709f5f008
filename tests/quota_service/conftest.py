from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from quota_service.config import Settings
from quota_service.factory import Factory
from tests.support.clock import FakeClock
from tests.support.databases import BACKENDS, DatabaseFactory
from tests.support.processes import TEST_OUTPUT
from tests.support.quota import QuotaStack
from tests.support.quota_tokens import other_service_config

OTHER_SERVICE = "other-service"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def factory(db_url: str, clock: FakeClock) -> Iterator[Factory]:
    f = Factory(Settings(database_url=db_url), clock=clock)
    try:
        yield f
    finally:
        f.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def stack(request: pytest.FixtureRequest, databases: DatabaseFactory) -> Iterator[QuotaStack]:
    """A real hub and a real quota service on each database backend; on PostgreSQL, as two
    worker processes (`serve --workers 2`), as the benchmark runs it."""
    backend = str(request.param)
    workdir = TEST_OUTPUT / "quota-api" / backend
    env = {"NEXUS_QUOTA_WORKERS": "2"} if backend == "postgresql" else None
    # A service of the hub's that has nothing to do with quotas, for the authorization matrix.
    other_token = secrets.token_hex(16)
    s = QuotaStack.start(
        workdir,
        databases.new(backend),
        env=env,
        extra_hub_config=other_service_config(OTHER_SERVICE, other_token),
    )
    s.backend = backend  # type: ignore[attr-defined]
    s.other_service_token = other_token  # type: ignore[attr-defined]
    try:
        yield s
    finally:
        s.stop()
