"""The quota service unreachable: fail-closed refuses with a clear message; fail-open starts
Entry limits, logs it and counts it in the hub's metrics."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import pytest

from tests.support.oidc import OidcProvider
from tests.support.processes import TEST_OUTPUT

from .stack import NexusStack, start_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

UNREACHABLE = "quota service that decides server sizes cannot be reached"


def _start(provider: OidcProvider, mode: str) -> NexusStack:
    workdir = TEST_OUTPUT / "hub_config" / f"fail_{mode}"
    shutil.rmtree(workdir, ignore_errors=True)
    return start_stack(workdir, provider, fail_mode=mode, quota=False)


@pytest.fixture(scope="module")
def closed_stack(oidc_provider: OidcProvider) -> Iterator[NexusStack]:
    st = _start(oidc_provider, "closed")
    try:
        yield st
    finally:
        st.stop()


@pytest.fixture(scope="module")
def open_stack(oidc_provider: OidcProvider) -> Iterator[NexusStack]:
    st = _start(oidc_provider, "open")
    try:
        yield st
    finally:
        st.stop()


def _metric(stack: NexusStack, operation: str, mode: str) -> float:
    text = stack.hub_admin().get(stack.hub.hub_url + "/hub/metrics").text
    pattern = (
        r'^nexus_quota_unreachable_total\{fail_mode="'
        + mode
        + r'",operation="'
        + operation
        + r'"\} ([0-9.e+]+)$'
    )
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_fail_closed_refuses_with_a_clear_message(closed_stack: NexusStack) -> None:
    browser = closed_stack.login("ellen")
    page = closed_stack.spawn_page(browser)
    assert page.status_code == 503
    assert UNREACHABLE in page.text
    resp = browser.post(
        f"{closed_stack.hub.url}/hub/spawn/ellen",
        data={"profile": "small", "_xsrf": browser.cookies.get("_xsrf", domain="127.0.0.1")},
    )
    assert resp.status_code == 503
    assert UNREACHABLE in resp.text
    assert closed_stack.server("ellen") is None
    assert _metric(closed_stack, "spawn", "closed") >= 1


def test_fail_open_starts_entry_limits_with_a_notice_logged_and_counted(
    open_stack: NexusStack,
) -> None:
    browser = open_stack.login("ellen")
    page = open_stack.spawn_page(browser)
    assert page.status_code == 200
    assert "Entry limits while the quota service is unreachable" in page.text
    assert 'value="medium"' not in page.text
    before = _metric(open_stack, "spawn", "open")

    resp = open_stack.spawn(browser, {"profile": "small"})
    assert resp.status_code == 302, resp.text[-2000:]
    open_stack.wait_ready("ellen")
    try:
        env = open_stack.server_env("ellen")
        assert env["NEXUS_QUOTA_FAIL_OPEN"] == "1"
        assert env["NEXUS_TIER"] == "entry"
        assert env["NEXUS_ALLOCATION_ID"] == "none"
        assert env["CPU_LIMIT"] == "2.0"
        assert env["MEM_LIMIT"] == str(8 * 1024**3)
        assert _metric(open_stack, "spawn", "open") == before + 1
        home = browser.get(f"{open_stack.hub.url}/hub/home")
        assert "could not be reached, so this server runs with Entry limits" in home.text
        assert "quota service unreachable during spawn" in open_stack.hub.log()
    finally:
        open_stack.stop_server("ellen")
    # The stop could not be recorded either: counted, and the server still stopped.
    assert _metric(open_stack, "stop", "open") >= 1
    home = browser.get(f"{open_stack.hub.url}/hub/home")
    assert "Entry limits" not in home.text
