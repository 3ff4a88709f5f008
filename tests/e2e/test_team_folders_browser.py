"""Team folders in a real browser against the whole dev platform (issue 17 part 2).

`make dev` gives the quota service and the hub the same teams root, <state>/teams: creating a
consortium makes its folder there, and a member's lab server links it as ~/teams/<team_dir>.
An admin creates a consortium with a lead and a member; a file is put in the team folder; the
member sees it in JupyterLab's file browser and makes a new file there, which lands on disk in
the team's group and group-writable. A non-member's lab has no such folder and its contents API
answers 404. (That the notebook uid of a non-member cannot read the folder on disk is
tests/storage/test_team_folders_permissions.py's.)
"""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from dev.accounts import CONSORTIUM
from hub_config.teamdirs import team_dir
from tests.support.platform import RunningPlatform
from tests.support.processes import poll_until

from .conftest import SCREENSHOTS
from .lab import SPAWN_TIMEOUT_MS
from .quota_pages import People, Person

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

TEAM_MODE = 0o3770  # setgid + sticky + rwxrwx---
GID_BASE = 60000  # the quota service's teams.gid_base default; make dev keeps it
PLACED = "placed-by-the-lead.txt"
WRITTEN = "member-notes.txt"


@dataclass
class Team:
    cid: int
    team_dir: str
    folder: Path
    member: Person
    outsider: Person


@pytest.fixture(scope="module")
def crowd(browser: Browser, nexus: RunningPlatform) -> Iterator[People]:
    people = People(browser, nexus, SCREENSHOTS)
    try:
        yield people
    finally:
        people.close()


@pytest.fixture(scope="module")
def team(crowd: People, nexus: RunningPlatform) -> Iterator[Team]:
    """Fresh lead, member and outsider, signed in; the admin's consortium led by the first,
    which the lead adds the second to."""
    people = [crowd.newcomer(prefix) for prefix in ("tf-lead", "tf-member", "tf-outsider")]
    for person in people:
        person.sign_in()
    lead, member, outsider = people
    admin = nexus.quota_admin()
    created = admin.post(
        "admin/consortia",
        json={
            "name": f"Browser Team {uuid.uuid4().hex[:6]}",
            "cpu_hours": 100,
            "home_quota_soft_gib": 10,
            "home_quota_hard_gib": 20,
            "term_days": 30,
            "leads": [lead.username],
        },
    )
    assert created.status_code == 201, created.text
    view = created.json()
    cid, name = int(view["id"]), view["storage"]["team_dir"]
    assert name == team_dir(view["name"])  # the sanitised name: no collision for a fresh one
    # The lead adds the member on the consortium's quota page (the API's member routes are
    # for people; the admin's token is a service's).
    lead.quota(f"consortia/{cid}")
    lead.page.fill("#add-member input[name=username]", member.username)
    lead.page.fill("#add-member input[name=cpu_hours_share]", "10")
    lead.page.click("#add-member button")
    expect(lead.page.locator(f'#members tr[data-member="{member.username}"]')).to_have_count(1)
    team = Team(cid, name, nexus.state_dir / "teams" / name, member, outsider)
    try:
        yield team
    finally:
        hub = nexus.hub_admin()
        for person in people:
            if nexus.server(person.username) is not None:
                hub.delete(f"users/{person.username}/server")
                nexus.wait_gone(person.username, "", timeout=90)


@pytest.fixture(autouse=True)
def screenshot_on_failure(crowd: People, request: pytest.FixtureRequest) -> Iterator[None]:
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before:
        crowd.shoot_all(f"failed-{request.node.name}")


def _start(person: Person) -> None:
    person.page.goto(f"{person.nexus.url}/hub/spawn")
    person.start_server("small")


def _listing(page: Page) -> list[str]:
    items = page.locator(".jp-DirListing-content .jp-DirListing-itemText")
    return [t.strip() for t in items.all_text_contents()]


def _open_folder(person: Person, path: str) -> None:
    """JupyterLab with its file browser at `path` (relative to the home)."""
    page = person.page
    page.goto(f"{person.lab_url}/tree/{path}?reset")
    expect(page.locator(".jp-LabShell")).to_be_visible(timeout=SPAWN_TIMEOUT_MS)
    person.dismiss_news()
    crumbs = page.locator(".jp-FileBrowser .jp-BreadCrumbs")
    expect(crumbs).to_contain_text(path.rsplit("/", 1)[-1], timeout=SPAWN_TIMEOUT_MS)


def test_make_dev_made_the_seeded_consortiums_folder(nexus: RunningPlatform) -> None:
    """dev/accounts.py's consortium has its folder once the platform is up (made at
    creation, or by `nexus-quota teams sync --create-root` at start-up)."""
    root = nexus.state_dir / "teams"
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o755
    folder = root / team_dir(CONSORTIUM)
    st = os.lstat(folder)
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == TEAM_MODE
    assert st.st_uid == 0 and st.st_gid > GID_BASE


def test_creating_a_consortium_made_its_folder(team: Team) -> None:
    st = os.lstat(team.folder)
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == TEAM_MODE
    assert (st.st_uid, st.st_gid) == (0, GID_BASE + team.cid)


def test_a_member_sees_the_team_folder_and_writes_into_it(team: Team) -> None:
    (team.folder / PLACED).write_text("from the lead\n")
    member = team.member
    _start(member)
    path = f"teams/{team.team_dir}"
    # The hub's local applier linked the team folder into the member's home at the start.
    link = Path(member.nexus.server_env(member.username)["HOME"]) / path
    assert link.is_symlink() and link.resolve() == team.folder.resolve()
    _open_folder(member, path)
    page = member.page
    listing = page.locator(".jp-DirListing-content")
    expect(listing.get_by_text(PLACED, exact=True)).to_be_visible(timeout=60_000)
    assert PLACED in _listing(page)
    member.shot("team-folder-member-listing")

    # The launcher opened in that folder: its Text File makes untitled.txt there; type, save.
    launcher = page.locator(".jp-Launcher:visible")
    expect(launcher.locator(".jp-Launcher-cwd")).to_contain_text(path)
    launcher.locator(".jp-LauncherCard", has_text="Text File").click()
    editor = page.locator(".jp-FileEditor:visible .cm-content")
    expect(editor).to_be_visible(timeout=60_000)
    editor.click()
    page.keyboard.type("written by the member")
    page.keyboard.press("Control+s")
    # JupyterLab asks for a name on the first save of an untitled file.
    dialog = page.locator(".jp-Dialog")
    dialog.locator("input.jp-Dialog-input-field, input[type=text]").first.fill(WRITTEN)
    dialog.get_by_role("button", name="Rename and Save").click()
    expect(listing.get_by_text(WRITTEN, exact=True)).to_be_visible(timeout=60_000)

    made = team.folder / WRITTEN
    poll_until(
        lambda: made.read_text() if made.exists() else None,
        60,
        0.3,
        f"{made} was not saved",
        until=lambda text: text == "written by the member",
    )
    st = os.lstat(made)
    assert stat.S_ISREG(st.st_mode)
    assert st.st_gid == GID_BASE + team.cid  # the folder's setgid gives the team's group
    assert st.st_mode & 0o060 == 0o060, oct(st.st_mode)  # umask 0002: group-writable
    member.shot("team-folder-member-new-file")
    assert (link / WRITTEN).read_text() == "written by the member"


def test_a_non_member_has_no_team_folder(team: Team) -> None:
    outsider = team.outsider
    _start(outsider)
    page = outsider.page
    page.goto(f"{outsider.lab_url}?reset")
    expect(page.locator(".jp-DirListing-content")).to_be_visible(timeout=SPAWN_TIMEOUT_MS)
    outsider.dismiss_news()
    api = f"{outsider.nexus.url}/user/{outsider.username}/api/contents/"
    teams = page.request.get(api + "teams")
    if teams.status == 200:  # a `teams` folder without this team in it
        assert team.team_dir not in [item["name"] for item in teams.json()["content"]]
    else:
        assert teams.status == 404, teams.text()
        assert "teams" not in _listing(page)
    refused = page.request.get(api + f"teams/{team.team_dir}")
    # The local applier gives a non-member no link at all, so the lab has no such path.
    assert refused.status == 404, (refused.status, refused.text())
    home = Path(outsider.nexus.server_env(outsider.username)["HOME"])
    assert not os.path.lexists(home / "teams" / team.team_dir)
    # Opening the member's path in JupyterLab: "Cannot open", not the folder.
    page.goto(f"{outsider.lab_url}/tree/teams/{team.team_dir}?reset")
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text(
        f"Could not find path: teams/{team.team_dir}", timeout=SPAWN_TIMEOUT_MS
    )
    assert PLACED not in _listing(page)
    outsider.shot("team-folder-non-member")
