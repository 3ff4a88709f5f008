from __future__ import annotations

from collections.abc import Iterator

import pytest

from quota_service.config import Settings
from quota_service.factory import Factory
from tests.support.clock import FakeClock


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
