"""Named servers in a real browser against the whole dev platform (issue 17 part 1).

A fresh person with Entry and Research allocations names a server on the hub's home page,
chooses its size and the allocation to charge in the spawn form, lands in its JupyterLab, and
finds it listed on the home page with that size, that allocation and its cost so far, whose
figures agree with the quota service. A name outside the rule gets the hub's 400 page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, expect

from tests.support.platform import RunningPlatform

from .conftest import SCREENSHOTS
from .lab import SPAWN_TIMEOUT_MS
from .quota_pages import People, Person

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

SERVER = "analysis"


@pytest.fixture(scope="module")
def crowd(browser: Browser, nexus: RunningPlatform) -> Iterator[People]:
    people = People(browser, nexus, SCREENSHOTS)
    try:
        yield people
    finally:
        people.close()


@pytest.fixture(scope="module")
def person(crowd: People, nexus: RunningPlatform) -> Iterator[Person]:
    """A fresh account with a Research allocation besides Entry, signed in."""
    person = crowd.newcomer("named")
    person.sign_in()
    grant = nexus.quota_admin().post(
        "admin/allocations",
        json={"username": person.username, "tier": "research", "reason": "named servers e2e"},
    )
    assert grant.status_code == 201, grant.text
    person.research_id = int(grant.json()["id"])  # type: ignore[attr-defined]
    try:
        yield person
    finally:
        hub = nexus.hub_admin()
        if nexus.server(person.username, SERVER) is not None:
            hub.delete(f"users/{person.username}/servers/{SERVER}")
            nexus.wait_gone(person.username, SERVER, timeout=90)


@pytest.fixture(autouse=True)
def screenshot_on_failure(crowd: People, request: pytest.FixtureRequest) -> Iterator[None]:
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before:
        crowd.shoot_all(f"failed-{request.node.name}")


def _add_server(person: Person, name: str) -> None:
    page = person.page
    page.goto(f"{person.nexus.url}/hub/home")
    page.locator(".new-server-name").fill(name)
    page.locator(".new-server-btn").click()


def test_a_bad_name_gets_the_hubs_400_page(person: Person) -> None:
    _add_server(person, "My Server")
    page = person.page
    expect(page.locator("body")).to_contain_text("cannot be a server name")
    expect(page.locator("body")).to_contain_text("lowercase letters, digits")
    named = person.nexus.hub_admin().get(
        f"users/{person.username}", params={"include_stopped_servers": "1"}
    )
    # The hub's home page made the default server's record; no other was made.
    assert set(named.json()["servers"]) <= {""}, named.json()


def test_a_named_server_created_from_the_home_page_is_listed_with_its_figures(
    person: Person, nexus: RunningPlatform
) -> None:
    page = person.page
    research = person.research_id  # type: ignore[attr-defined]
    began = datetime.now(UTC)
    _add_server(person, SERVER)
    page.wait_for_url(re.compile(rf".*/hub/spawn/{person.username}/{SERVER}$"))
    page.locator('input[type="radio"][name="profile"][value="medium"]').check()
    page.locator('select[name="profile-option-medium--allocation"]').select_option(str(research))
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(
        re.compile(rf".*/user/{person.username}/{SERVER}/lab.*"), timeout=SPAWN_TIMEOUT_MS
    )
    expect(page.locator(".jp-LabShell")).to_be_visible(timeout=SPAWN_TIMEOUT_MS)

    page.goto(f"{nexus.url}/hub/home")
    row = page.locator(f'#nexus-servers tr.nexus-server[data-server-name="{SERVER}"]')
    expect(row.locator(".nexus-server-status")).to_have_text("running")
    expect(row.locator(".nexus-server-size")).to_have_text("Medium (medium)")
    expect(row.locator(".nexus-server-allocation")).to_have_text(re.compile(r"\(research\)$"))
    expect(row.locator(".nexus-server-rate")).to_have_text("4 CPU-hours per hour")
    default = page.locator('#nexus-servers tr.nexus-server[data-server-name=""]')
    expect(default.locator(".nexus-server-status")).to_have_text("stopped")
    expect(page.locator(".nexus-server-name-rule")).to_contain_text(
        "allow 2 named server(s) besides the default one"
    )
    person.doc_shot("e2e-named-servers-home")

    # The figures: cost so far = 4 CPU-hours per hour since the session opened (nothing is
    # charged before a stop or a reconcile), shown to two decimals.
    as_of = datetime.fromisoformat(str(page.locator("#nexus-servers").get_attribute("data-as-of")))
    started = datetime.fromisoformat(str(row.get_attribute("data-started-at")))
    so_far = float(str(row.get_attribute("data-cpu-hours")))
    assert began <= started <= as_of
    assert so_far == pytest.approx(4.0 * (as_of - started).total_seconds() / 3600, abs=1e-5)
    expect(row.locator(".nexus-server-cost")).to_have_text(f"{so_far:,.2f} CPU-hours")

    # The quota service counts it on Research, and the hub knows it by its name and options.
    user = nexus.quota_admin().get(f"admin/users/{person.username}").json()
    running = {a["tier"]: a["running_servers"] for a in user["allocations"]}
    assert running == {"entry": 0, "research": 1}
    server = nexus.server(person.username, SERVER)
    assert server is not None and server["ready"]
    options = server["user_options"]
    assert (options["profile"], options["allocation"]) == ("medium", str(research)), options

    # Stopped from the home page: the session closes and its CPU-hours land on Research.
    page.locator(f"#stop-{SERVER}").click()
    nexus.wait_gone(person.username, SERVER, timeout=90)
    user = nexus.quota_admin().get(f"admin/users/{person.username}").json()
    used = {a["tier"]: a["cpu_hours_used"] for a in user["allocations"]}
    assert used["entry"] == 0 and used["research"] >= so_far
