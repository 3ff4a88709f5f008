"""The whole dev platform (dev/platform.py, what `make dev` runs) for the browser tests.

    def test_x(nexus: RunningPlatform) -> None:
        nexus.url                         # http://127.0.0.1:<free port>
        nexus.hub_admin().get("users/ellen")
        nexus.quota_admin().get("admin/users/ellen")

One platform per test session, on free ports, in a fresh state directory under
test-output/e2e/state; logs in test-output/e2e/state/logs/<process>.log. It is started by
tests/support/stack.py's `start_platform`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from .processes import TEST_OUTPUT
from .stack import RunningPlatform, free_ports, platform_settings, start_platform

__all__ = ["RunningPlatform", "free_ports", "nexus", "platform_settings"]


@pytest.fixture(scope="session")
def nexus() -> Iterator[RunningPlatform]:
    """The whole platform, started once per session through dev/ like `make dev` does."""
    state = TEST_OUTPUT / "e2e" / "state"
    shutil.rmtree(state, ignore_errors=True)
    running = start_platform(state)
    try:
        yield running
    finally:
        running.close()
