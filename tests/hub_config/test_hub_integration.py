"""The hub side end to end: a real JupyterHub (with CHP from npm) running hub_config, the real
quota service over HTTP, and the real OIDC provider for login."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import httpx
import pytest

from hub_config.auth import discover
from tests.support.oidc import OidcProvider, OidcUser

from .stack import NexusStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_oidc_discovery_reads_the_providers_endpoints(oidc_provider: OidcProvider) -> None:
    ep = discover(oidc_provider.issuer)
    assert ep.authorize_url.startswith(oidc_provider.issuer)
    assert ep.token_url.endswith("/oauth2/token")
    assert ep.userinfo_url.endswith("/userinfo")


def test_login_maps_groups_and_admin_rights(stack: NexusStack) -> None:
    stack.login("ada")
    browser = stack.login("rosa")
    # Users may open the quota service (the `user` role).
    me = browser.get(f"{stack.hub.url}/hub/api/user").json()
    assert "access:services!service=quota" in me["scopes"]
    hub = stack.hub_admin()
    ada = hub.get("users/ada").json()
    rosa = hub.get("users/rosa").json()
    assert ada["admin"] is True
    assert set(ada["groups"]) == {"myst-users", "nexus-admins"}
    assert rosa["admin"] is False
    assert set(rosa["groups"]) == {"myst-users", "roman-research"}


def test_login_outside_the_allowed_groups_is_refused(stack: NexusStack) -> None:
    with httpx.Client(timeout=60) as browser:
        resp = stack.provider.login(browser, stack.hub.url, "oscar")
        assert resp.status_code == 403
    assert stack.hub_admin().get("users/oscar").status_code == 404


def test_spawn_form_offers_only_the_tiers_sizes_with_cost_and_hours_left(
    stack: NexusStack,
) -> None:
    browser = stack.login("ellen")
    page = stack.spawn_page(browser)
    assert page.status_code == 200
    assert 'value="small"' in page.text and 'value="medium"' in page.text
    assert 'value="large"' not in page.text and 'value="xlarge"' not in page.text
    assert "costs 2 CPU-hours per hour" in page.text
    assert "1,000.0 CPU-hours left" in page.text


def test_allowed_spawn_gets_its_limits_env_and_files_and_the_stop_is_charged(
    stack: NexusStack,
) -> None:
    browser = stack.login("ellen")
    started = time.monotonic()
    resp = stack.spawn(browser, {"profile": "medium"})
    assert resp.status_code == 302, resp.text[-2000:]
    stack.wait_ready("ellen")

    env = stack.server_env("ellen")
    assert env["NEXUS_TIER"] == "entry"
    assert env["NEXUS_SIZE"] == "medium"
    assert env["NEXUS_CPU_HOURS_PER_HOUR"] == "4"
    assert env["NEXUS_MAX_SESSION_HOURS"] == "24"
    assert env["NEXUS_IDLE_CULL_HOURS"] == "1"
    assert env["MEM_LIMIT"] == str(16 * 1024**3)
    assert env["CPU_LIMIT"] == "4.0"
    home = Path(env["HOME"])
    assert home == stack.hub.state_dir.resolve() / "homes" / "ellen"
    assert Path(env["SCRATCH_DIR"]) == stack.hub.state_dir.resolve() / "scratch" / "ellen"
    assert (home / "scratch").resolve() == Path(env["SCRATCH_DIR"])
    tutorial = home / "tutorials" / "streaming" / "stream_roman_data.ipynb"
    assert tutorial.is_file()
    assert stat.S_IMODE(os.stat(tutorial).st_mode) == 0o444

    sessions = [s for s in stack.open_sessions() if s["username"] == "ellen"]
    assert len(sessions) == 1 and sessions[0]["size"] == "medium"

    stack.stop_server("ellen")
    elapsed_hours = (time.monotonic() - started) / 3600
    assert not [s for s in stack.open_sessions() if s["username"] == "ellen"]
    me = stack.quota_admin().get("admin/users/ellen").json()
    used = me["allocations"][0]["cpu_hours_used"]
    # Charged 4 CPU x wall time: more than nothing, never more than the time it ran.
    assert 0 < used <= 4 * elapsed_hours


def test_a_size_posted_by_hand_outside_the_tier_is_rejected(stack: NexusStack) -> None:
    browser = stack.login("ellen")
    resp = stack.spawn(browser, {"profile": "xlarge"})
    assert resp.status_code == 403
    assert "The Extra large size is not included in your Entry" in resp.text
    assert 'href="/services/quota/requests/new"' in resp.text
    assert stack.server("ellen") is None
    assert not [s for s in stack.open_sessions() if s["username"] == "ellen"]

    resp = stack.spawn(browser, {"profile": "huge"})
    assert resp.status_code == 400
    assert "unknown server size" in resp.text
    assert stack.server("ellen") is None


def _research_user(stack: NexusStack, name: str, cpu_hours: float | None = None) -> int:
    """A new MyST account with a Research allocation besides Entry; returns its id."""
    stack.provider.set_user(OidcUser(name, groups=["myst-users"]))
    stack.login(name)
    body: dict[str, object] = {"username": name, "tier": "research", "reason": "test"}
    if cpu_hours is not None:
        body["cpu_hours"] = cpu_hours
    grant = stack.quota_admin().post("admin/allocations", json=body)
    assert grant.status_code == 201, grant.text
    return int(grant.json()["id"])


def test_exhausted_cpu_hours_show_limit_usage_reset_and_upgrade_link(stack: NexusStack) -> None:
    research_id = _research_user(stack, "rex", cpu_hours=1.0)
    browser = stack.login("rex")
    resp = stack.spawn(browser, {"profile": "large", "allocation": str(research_id)})
    assert resp.status_code == 403
    assert "CPU-hours" in resp.text
    assert "Limit: 1</li>" in resp.text
    assert "Used: 0</li>" in resp.text
    assert "Resets:" in resp.text
    assert 'href="/services/quota/requests/new">Request an upgrade</a>' in resp.text
    assert stack.server("rex") is None


def test_someone_with_several_allocations_chooses_what_to_charge(stack: NexusStack) -> None:
    _research_user(stack, "chloe")
    browser = stack.login("chloe")
    me = stack.quota_admin().get("admin/users/chloe").json()
    ids = {a["tier"]: a["id"] for a in me["allocations"]}
    assert set(ids) == {"entry", "research"}
    page = stack.spawn_page(browser)
    assert 'name="profile-option-small--allocation"' in page.text
    resp = stack.spawn(
        browser,
        {"profile": "small", "profile-option-small--allocation": str(ids["entry"])},
    )
    assert resp.status_code == 302, resp.text[-2000:]
    stack.wait_ready("chloe")
    try:
        session = next(s for s in stack.open_sessions() if s["username"] == "chloe")
        assert session["allocation_id"] == ids["entry"]
        assert stack.server_env("chloe")["NEXUS_ALLOCATION_ID"] == str(ids["entry"])
    finally:
        stack.stop_server("chloe")


def test_home_page_shows_tier_quota_status_and_links(stack: NexusStack) -> None:
    browser = stack.login("rosa")
    home = browser.get(f"{stack.hub.url}/hub/home")
    assert home.status_code == 200
    assert 'id="nexus-standing"' in home.text
    assert "Tier: " in home.text and "CPU-hours left:" in home.text
    assert "within quota" in home.text or "over the" in home.text
    assert 'href="/services/quota/"' in home.text
    assert 'href="/services/quota/requests/new"' in home.text
