"""Browser tests: Playwright (PyPI) driving Debian's Chromium against the whole dev platform."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.support.browser import launch
from tests.support.platform import RunningPlatform
from tests.support.processes import TEST_OUTPUT

from .lab import LabSession

SCREENSHOTS = TEST_OUTPUT / "screenshots" / "e2e"


# Module scope, not session: Playwright's sync API keeps an event loop running while it is
# open, which would break every later test that runs asyncio in the same process.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser = launch(playwright)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
def ellen(browser: Browser, nexus: RunningPlatform) -> Iterator[LabSession]:
    """The Entry user, signed in, with a running JupyterLab (one per test module)."""
    session = LabSession(browser, nexus, "ellen", SCREENSHOTS)
    try:
        yield session
    finally:
        session.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failure, save what the browser showed: failed-<test>.png."""
    report = yield
    if call.when == "call" and call.excinfo is not None:
        session = getattr(item, "funcargs", {}).get("ellen")
        if isinstance(session, LabSession):
            try:
                session.shot(f"failed-{item.name}")
            except Exception:  # the test's own error matters more
                pass
    return report
