"""The quota pages in a real browser against the whole dev platform (issue 8).

- The upgrade story, in order, by a fresh Entry user: a Large server is refused with the quota
  service's reason and a link to the request form; they file a Research request; the admin
  approves it in the console; they start a Large server; its CPU-hours land on Research.
- A consortium lead sets a member's share; the member sees it as their allocation.
- A non-admin is refused the admin console.
- A justification carrying markup is shown as text to the user and the admin; no script runs.

Screenshots go to test-output/screenshots/e2e/ (e2e-*.png, copied to docs/images/ for the
guides; failed-<test>-<user>.png on a failure).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.support.platform import RunningPlatform

from .conftest import SCREENSHOTS
from .quota_pages import People, Person

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

CONSORTIUM = "roman-sims"
XSS = "<script>alert(1)</script><img src=x onerror=alert(2)> needs large servers for romanisim"
STOP_TIMEOUT_S = 90
MIN_RUN_S = 30


@pytest.fixture(scope="module")
def crowd(browser: Browser, nexus: RunningPlatform) -> Iterator[People]:
    people = People(browser, nexus, SCREENSHOTS)
    try:
        yield people
    finally:
        people.close()


@pytest.fixture(autouse=True)
def screenshots_on_failure(crowd: People, request: pytest.FixtureRequest) -> Iterator[None]:
    """After a failed test, save what every open page shows (failed-<test>-<user>.png)."""
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before:
        crowd.shoot_all(f"failed-{request.node.name}")


@dataclass
class Story:
    """What the upgrade story's steps hand on to the next ones."""

    person: Person | None = None
    request_id: int | None = None
    admin: Person | None = None

    def user(self) -> Person:
        assert self.person is not None, "step 1 of the upgrade story has not run"
        return self.person

    def filed(self) -> int:
        assert self.request_id is not None, "step 2 of the upgrade story has not passed"
        return self.request_id


@pytest.fixture(scope="module")
def story() -> Story:
    return Story()


def allocations(nexus: RunningPlatform, username: str) -> list[dict[str, Any]]:
    """The person's allocations as the quota service's admin API reports them."""
    resp = nexus.quota_admin().get(f"admin/users/{username}")
    resp.raise_for_status()
    return list(resp.json()["allocations"])


def one(allocs: list[dict[str, Any]], tier: str) -> dict[str, Any]:
    found = [a for a in allocs if a["tier"] == tier and a["status"] == "active"]
    assert len(found) == 1, allocs
    return found[0]


def cells(person: Person, allocation_id: int) -> list[str]:
    """The cells of an allocation's row in the Allocations table of the page shown."""
    row = person.page.locator(f'#allocations tr[data-allocation="{allocation_id}"]')
    expect(row).to_be_visible()
    return [t.strip() for t in row.locator("td").all_inner_texts()]


# --- the upgrade story --------------------------------------------------------------------------


def test_upgrade_1_entry_user_is_refused_a_large_server_and_told_why(
    crowd: People, story: Story, nexus: RunningPlatform
) -> None:
    person = story.person = crowd.newcomer("up")
    person.sign_in()
    assert person.size_choices() == ["small", "medium"]

    # The form offers no Large; a person tampering with it turns the Medium choice into Large.
    page = person.page
    page.evaluate(
        """() => {
            const radio = document.querySelector('input[name="profile"][value="medium"]');
            radio.value = "large";
            radio.checked = true;
        }"""
    )
    with page.expect_response(
        lambda r: r.request.method == "POST" and "/hub/spawn" in r.url
    ) as posted:
        page.get_by_role("button", name="Start").click()
    assert posted.value.status == 403
    # The browser posted the tampered choice (a multipart form): profile=large.
    assert 'name="profile"\r\n\r\nlarge\r\n' in (posted.value.request.post_data or "")

    denial = page.locator(".nexus-quota-denial")
    expect(denial).to_be_visible()
    expect(denial).to_contain_text("The Large size is not included in your")
    expect(denial).to_contain_text("which allows: small, medium")
    link = denial.get_by_role("link", name="Request an upgrade")
    expect(link).to_have_attribute("href", "/services/quota/requests/new")
    person.doc_shot("e2e-upgrade-1-large-refused")
    assert nexus.server(person.username) is None
    entry = one(allocations(nexus, person.username), "entry")
    assert entry["cpu_hours_used"] == 0


def test_upgrade_2_they_follow_the_link_and_file_a_research_request(
    story: Story, nexus: RunningPlatform
) -> None:
    person = story.user()
    page = person.page
    page.locator(".nexus-quota-denial").get_by_role("link", name="Request an upgrade").click()
    page.wait_for_url(f"{person.quota_url}requests/new")
    expect(page.locator("h1")).to_have_text("Request an upgrade or renewal")
    expect(page.locator("main")).to_contain_text("You are on the Entry tier")
    expect(page.locator('input[name="tier"][value="research"]')).to_be_checked()
    page.fill(
        "#justification",
        "Forward-modelling Roman WFI images of 40 galaxy clusters with romanisim needs "
        "large servers for a few weeks.",
    )
    page.fill("#requested_cpu_hours", "5000")
    person.doc_shot("e2e-upgrade-2-request-form", full_page=True)
    page.get_by_role("button", name="File the request").click()
    page.wait_for_url(f"{person.quota_url}requests")
    flash = page.locator(".flash")
    expect(flash).to_contain_text("filed")
    found = re.search(r"Request #(\d+) filed", flash.inner_text())
    assert found, flash.inner_text()
    story.request_id = int(found.group(1))
    row = page.locator(f'#requests tr[data-request="{story.request_id}"]')
    expect(row).to_contain_text("pending")
    person.doc_shot("e2e-upgrade-3-request-filed")


def test_upgrade_3_the_admin_approves_it_in_the_console(
    crowd: People, story: Story, nexus: RunningPlatform
) -> None:
    person, request_id = story.user(), story.filed()
    ada = story.admin = crowd.person("ada")
    ada.sign_in()
    ada.quota("admin")
    page = ada.page
    expect(page.locator("h1")).to_have_text("Admin console")
    article = page.locator(f'article.request[data-request="{request_id}"]')
    expect(article).to_contain_text(f"{person.username} asks for")
    expect(article).to_contain_text("Forward-modelling Roman WFI images")
    expect(article).to_contain_text("Asks for 5,000 CPU-hours")
    # The approval starts from the Research tier's defaults.
    expect(article.locator('input[name="cpu_hours"]')).to_have_value(re.compile(r"^20000(\.0)?$"))
    article.scroll_into_view_if_needed()
    ada.doc_shot("e2e-upgrade-4-admin-console")
    article.get_by_role("button", name="Approve").click()
    # A change made through the browser session is confirmed on its own page (issue 15 item 3).
    expect(page.locator("h1")).to_contain_text("Confirm: ")
    page.get_by_role("button", name=re.compile(r"^Confirm: ")).click()
    page.wait_for_url(f"{ada.quota_url}admin")
    expect(page.locator(".flash")).to_have_text(f"Request #{request_id} approved.")
    expect(page.locator(f'article.request[data-request="{request_id}"]')).to_have_count(0)

    research = one(allocations(nexus, person.username), "research")
    assert research["cpu_hours_budget"] == 20000
    assert "large" in research["sizes"]


def test_upgrade_4_they_start_a_large_server(story: Story, nexus: RunningPlatform) -> None:
    person = story.user()
    assert person.size_choices() == ["small", "medium", "large"]
    large = person.page.locator(".nexus-size", has=person.page.locator('input[value="large"]'))
    expect(large).to_contain_text("8 CPU")
    expect(large).to_contain_text("Research")
    person.doc_shot("e2e-upgrade-5-spawn-form-research")
    person.start_server("large")
    # A fresh home, prepared like every other: the read-only tutorials are linked in.
    listing = person.page.locator(".jp-DirListing-item", has_text="tutorials")
    expect(listing).to_be_visible(timeout=60_000)
    person.shot("e2e-upgrade-6-large-server-lab")

    server = nexus.server(person.username)
    assert server is not None and server["ready"], server
    assert server["user_options"]["profile"] == "large"
    allocs = allocations(nexus, person.username)
    # The running session is counted on Research, not on Entry.
    assert one(allocs, "research")["running_servers"] == 1
    assert one(allocs, "entry")["running_servers"] == 0


def test_upgrade_5_its_cpu_hours_are_charged_to_research(
    story: Story, nexus: RunningPlatform
) -> None:
    person = story.user()
    page = person.page
    server = nexus.server(person.username)
    assert server is not None, "step 4 of the upgrade story has not passed"
    # The page shows CPU-hours with one decimal: let the 8-CPU server run MIN_RUN_S in all
    # (8 x 30 s = 0.067 CPU-hours, shown as 0.1) so a charge cannot round away to "0.0".
    started = datetime.fromisoformat(server["started"].replace("Z", "+00:00"))
    ran = (datetime.now(UTC) - started).total_seconds()
    if ran < MIN_RUN_S:
        page.wait_for_timeout((MIN_RUN_S - ran) * 1000)
    page.goto(f"{nexus.url}/hub/home")
    page.get_by_role("button", name=re.compile("Stop My Server")).click()
    nexus.wait_no_server(person.username, timeout=STOP_TIMEOUT_S)

    allocs = allocations(nexus, person.username)
    research, entry = one(allocs, "research"), one(allocs, "entry")
    assert research["running_servers"] == 0
    assert research["cpu_hours_used"] > 0, allocs
    assert entry["cpu_hours_used"] == 0, allocs
    assert research["cpu_hours_left"] == pytest.approx(20000 - research["cpu_hours_used"])

    # What the person sees on "My allocation": the hours on the Research row, none on Entry.
    person.quota("")
    expect(page.locator("h1")).to_have_text("My allocation")
    r_cells, e_cells = cells(person, research["id"]), cells(person, entry["id"])
    assert r_cells[1] == "Research" and e_cells[1] == "Entry", (r_cells, e_cells)
    assert r_cells[3] == f"{research['cpu_hours_used']:,.1f}", r_cells
    assert float(r_cells[3].replace(",", "")) > 0, r_cells
    assert e_cells[3] == "0.0", e_cells
    person.doc_shot("e2e-upgrade-7-charged-to-research")


# --- consortium ---------------------------------------------------------------------------------


def test_lead_sets_a_members_share_and_the_member_sees_it(
    crowd: People, nexus: RunningPlatform
) -> None:
    leo = crowd.person("leo")
    leo.sign_in()
    leo.quota("")
    page = leo.page
    page.get_by_role("link", name=re.compile(r"^Consortium #\d+$")).first.click()
    page.wait_for_url(re.compile(re.escape(leo.quota_url) + r"consortia/\d+$"))
    expect(page.locator("h1")).to_have_text(f"Consortium {CONSORTIUM}")
    share = page.locator('tr[data-member="mia"] input[name="cpu_hours_share"]')
    before = float(share.input_value())
    new = 6000 if before != 6000 else 7000  # a change on every run, whatever the state
    share.fill(str(new))
    page.locator('tr[data-member="mia"]').get_by_role("button", name="Set").click()
    expect(page.locator(".flash")).to_have_text(f"mia's share is now {new:g} CPU-hours.")
    expect(share).to_have_value(re.compile(rf"^{new}(\.0)?$"))
    leo.doc_shot("e2e-consortium-1-lead-sets-share", full_page=True)

    mia = crowd.person("mia")
    mia.sign_in()
    mia.quota("")
    row = mia.page.locator("#allocations tr[data-allocation]", has_text=CONSORTIUM)
    expect(row).to_have_count(1)
    budget = row.locator("td").nth(5)
    expect(budget).to_have_text(f"{new:,}")
    mia.doc_shot("e2e-consortium-2-member-sees-share")
    mine = [a for a in allocations(nexus, "mia") if a.get("consortium") == CONSORTIUM]
    assert [a["cpu_hours_budget"] for a in mine] == [new]


# --- access -------------------------------------------------------------------------------------


def test_a_non_admin_is_refused_the_admin_console(crowd: People) -> None:
    rosa = crowd.person("rosa")
    rosa.sign_in()
    rosa.quota("")
    expect(rosa.page.locator("header nav")).not_to_contain_text("Admin console")
    response = rosa.quota("admin")
    assert response.status == 403
    expect(rosa.page.locator("h1")).to_have_text("403 · Not allowed")
    expect(rosa.page.locator("main")).not_to_contain_text("Pending requests")
    rosa.doc_shot("e2e-access-1-admin-console-refused")


# --- stored XSS ---------------------------------------------------------------------------------


def test_markup_in_a_justification_is_shown_as_text_and_never_runs(
    crowd: People, nexus: RunningPlatform
) -> None:
    writer = crowd.newcomer("xss")
    writer.sign_in()
    writer.quota("requests/new")
    page = writer.page
    page.fill("#justification", XSS)
    page.get_by_role("button", name="File the request").click()
    page.wait_for_url(f"{writer.quota_url}requests")
    found = re.search(r"Request #(\d+) filed", page.locator(".flash").inner_text())
    assert found
    request_id = int(found.group(1))
    page.reload()  # the stored text, rendered afresh
    cell = page.locator(f'#requests tr[data-request="{request_id}"] td.justification')
    expect(cell).to_have_text(XSS)
    expect(cell.locator("script, img")).to_have_count(0)
    writer.doc_shot("e2e-xss-1-user-requests")

    ada = crowd.person("ada")
    ada.sign_in()
    ada.quota("admin")
    article = ada.page.locator(f'article.request[data-request="{request_id}"]')
    text = article.locator(".justification p").first
    expect(text).to_have_text(XSS)
    expect(article.locator("script, img")).to_have_count(0)
    article.scroll_into_view_if_needed()
    ada.doc_shot("e2e-xss-2-admin-console")
    ada.quota(f"users/{writer.username}")  # the admin's view of the writer's page
    expect(ada.page.locator("h1")).to_have_text(f"Allocation of {writer.username}")

    assert writer.dialogs == [] and ada.dialogs == []
    # The admin denies it; the note, with markup too, reaches the writer as text.
    ada.quota("admin")
    article.locator('form.deny input[name="note"]').fill("<b>test</b> request, denied")
    article.get_by_role("button", name="Deny").click()
    # Browser-session admin changes are confirmed on their own page; the note shows as text.
    expect(ada.page.locator("h1")).to_contain_text("Confirm: ")
    expect(ada.page.locator("main")).to_contain_text("<b>test</b> request, denied")
    ada.page.get_by_role("button", name=re.compile(r"^Confirm: ")).click()
    expect(ada.page.locator(".flash")).to_have_text(f"Request #{request_id} denied.")
    writer.page.reload()
    row = writer.page.locator(f'#requests tr[data-request="{request_id}"]')
    expect(row).to_contain_text("denied")
    expect(row).to_contain_text("<b>test</b> request, denied")
    expect(row.locator("b")).to_have_count(0)
    assert writer.dialogs == [] and ada.dialogs == []

    # The recorder works: a dialog the page does open is caught.
    writer.page.evaluate("() => alert('control')")
    assert writer.dialogs == ["alert: control"]
