from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.databases import DatabaseFactory
from tests.support.processes import TEST_OUTPUT

from .stack import WebStack, start_web_stack


@pytest.fixture(scope="session")
def web_stack(databases: DatabaseFactory) -> Iterator[WebStack]:
    """A real hub routing /services/quota/ to a real quota service (SQLite)."""
    stack = start_web_stack(TEST_OUTPUT / "web", databases.new("sqlite"))
    try:
        yield stack
    finally:
        stack.stop()
