"""Issue 16 item 5: the spawn form offers the policy's environment releases, and the choice
reaches the quota service's decision, the session row and the server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub_config import profiles
from hub_config.quota_client import Entitlements
from quota_service.policy import load_policy
from tests.support.processes import TEST_OUTPUT
from tests.support.quota import QuotaStack

from .helpers import allocation_view
from .stack import NexusStack
from .test_profile_form_xss import _kubespawner_form, _tags

POLICY = load_policy()
CURRENT, PREVIOUS = (r.id for r in POLICY.offered_releases())


def _entitlements(releases: list[dict[str, object]]) -> Entitlements:
    alloc = allocation_view({"id": 3, "tier": "entry", "label": "Entry (ada)", "cpu_hours_left": 9})
    return Entitlements.model_validate(
        {
            "username": "ada",
            "tier": "entry",
            "allocations": [alloc.model_dump(mode="json")],
            "sizes": [
                {
                    "name": "small", "display_name": "Small", "cpu_limit": 2, "cpu_guarantee": 1,
                    "mem_limit_bytes": 2**33, "mem_guarantee_bytes": 2**32,
                    "cpu_hours_per_hour": 2, "allocation_ids": [3],
                }
            ],
            "releases": releases,
        }
    )  # fmt: skip


def test_every_size_offers_the_releases_current_preselected_and_escaped() -> None:
    ent = _entitlements(
        [
            {"id": "9.2", "display_name": 'Nexus "9.2"', "image": "img:2", "current": True},
            {"id": "9.1", "display_name": "<b>Nexus 9.1</b>", "image": "img:1"},
        ]
    )
    (profile,) = profiles.build_profiles(ent)
    option = profile["profile_options"]["release"]
    assert option["display_name"] == "Environment"
    assert list(option["choices"]) == ["9.2", "9.1"]
    assert option["choices"]["9.2"]["default"] is True and "default" not in option["choices"]["9.1"]
    form = profiles.render_form([profile])
    assert "&lt;b&gt;Nexus 9.1&lt;/b&gt; (previous)" in form and "<b>" not in form
    assert "Nexus &quot;9.2&quot; (current)" in form
    selects = [a for t, a in _tags(form) if t == "select"]
    assert selects == [{"name": "profile-option-small--release"}]
    chosen = [a for t, a in _tags(form) if t == "option" and "selected" in a]
    assert [a["value"] for a in chosen] == ["9.2"]
    formdata = {"profile": ["small"], "profile-option-small--release": ["9.1"]}
    assert profiles.options_from_form(formdata) == {"profile": "small", "release": "9.1"}


def test_no_releases_no_environment_choice() -> None:
    (profile,) = profiles.build_profiles(_entitlements([]))
    assert "profile_options" not in profile


@pytest.fixture(scope="module")
def quota() -> Iterator[QuotaStack]:
    s = QuotaStack.start(
        TEST_OUTPUT / "hub_config" / "release-form",
        f"sqlite:///{TEST_OUTPUT / 'hub_config' / 'release-form' / 'quota.sqlite'}",
    )
    try:
        yield s
    finally:
        s.stop()


@pytest.mark.integration
async def test_kubespawner_form_offers_the_current_and_previous_release(
    quota: QuotaStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = f"form-{uuid.uuid4().hex[:8]}"
    quota.user_token(user)
    form = await _kubespawner_form(quota, user, tmp_path, monkeypatch)
    tags = _tags(form)
    selects = [a["name"] for t, a in tags if t == "select"]
    assert selects == ["profile-option-small--release", "profile-option-medium--release"]
    values = [a["value"] for t, a in tags if t == "option"]
    assert values == [CURRENT, PREVIOUS, CURRENT, PREVIOUS]
    for release in POLICY.offered_releases():
        assert release.display_name in form
    assert "Environment" in form


@pytest.mark.integration
@pytest.mark.slow
def test_the_chosen_release_reaches_the_session_and_the_server(stack: NexusStack) -> None:
    browser = stack.login("ellen")
    page = stack.spawn_page(browser)
    assert 'name="profile-option-small--release"' in page.text
    resp = stack.spawn(browser, {"profile": "small", "profile-option-small--release": PREVIOUS})
    assert resp.status_code == 302, resp.text[-2000:]
    stack.wait_ready("ellen")
    try:
        env = stack.server_env("ellen")
        assert env["NEXUS_RELEASE"] == PREVIOUS
        assert env["NEXUS_RELEASE_NAME"] == POLICY.release(PREVIOUS).display_name  # type: ignore[union-attr]
        (session,) = [s for s in stack.open_sessions() if s["username"] == "ellen"]
        assert session["release"] == PREVIOUS
    finally:
        stack.stop_server("ellen")

    # No choice posted (a REST spawn, or a form without the field): the current release.
    resp = stack.spawn(browser, {"profile": "small"})
    assert resp.status_code == 302, resp.text[-2000:]
    stack.wait_ready("ellen")
    try:
        assert stack.server_env("ellen")["NEXUS_RELEASE"] == CURRENT
    finally:
        stack.stop_server("ellen")


@pytest.mark.integration
@pytest.mark.slow
def test_an_unknown_release_is_refused_with_a_message(stack: NexusStack) -> None:
    browser = stack.login("ellen")
    resp = stack.spawn(browser, {"profile": "small", "profile-option-small--release": "1999.1"})
    assert resp.status_code == 400, resp.text[-2000:]
    assert "unknown environment release" in resp.text and CURRENT in resp.text
    assert stack.server("ellen") is None
    assert not [s for s in stack.open_sessions() if s["username"] == "ellen"]
