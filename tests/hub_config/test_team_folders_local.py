"""Team folders the way `make dev` runs them: a real JupyterHub with hub_config and its local
spawner, the real quota service (told where the team folders are, so creating a consortium
makes its folder), the real OIDC provider. A member's lab server gets `~/teams/<team_dir>`, a
non-member's does not, leaving removes the link from the next start and never the files, and
every lab server runs with umask 0002 (issue 17 part 2)."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.oidc import OidcProvider, OidcUser
from tests.support.processes import TEST_OUTPUT

from .stack import NexusStack, start_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MEMBER = OidcUser("tessa", groups=["myst-users"])
OUTSIDER = OidcUser("otto", groups=["myst-users"])
LEAD = OidcUser("lead-of-local", groups=["myst-users"])


@pytest.fixture(scope="module")
def stack(oidc_provider: OidcProvider) -> Iterator[NexusStack]:
    workdir = TEST_OUTPUT / "hub_config" / "test_team_folders_local"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    teams = workdir / "state" / "teams"
    st = start_stack(
        workdir,
        oidc_provider,
        env={"NEXUS_STATE_DIR": str(workdir / "state"), "NEXUS_TEAMS_DIR": str(teams)},
        quota_env={"NEXUS_QUOTA_TEAMS__ROOT": str(teams)},
    )
    for user in (MEMBER, OUTSIDER, LEAD):
        oidc_provider.set_user(user)
    try:
        yield st
    finally:
        st.stop()


def umask_of(pid: int) -> str:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(line.split()[1] for line in status.splitlines() if line.startswith("Umask:"))


def start(stack: NexusStack, username: str) -> tuple[Path, int]:
    browser = stack.login(username)
    resp = stack.spawn(browser, {"profile": "small"})
    assert resp.status_code == 302, resp.text[-2000:]
    server = stack.wait_ready(username)
    home = Path(stack.server_env(username)["HOME"])
    return home, int(server["state"]["pid"])


def test_a_member_gets_the_team_link_and_a_non_member_does_not(stack: NexusStack) -> None:
    admin = stack.quota_admin()
    created = admin.post(
        "admin/consortia",
        json={
            "name": "Local Team",
            "cpu_hours": 100,
            "home_quota_soft_gib": 10,
            "home_quota_hard_gib": 20,
            "term_days": 30,
            "leads": [LEAD.sub],
        },
    )
    assert created.status_code == 201, created.text
    team_id = created.json()["id"]
    # Signed in once through MyST, so the hub's allowed groups let the lead's token in.
    stack.login(LEAD.sub)
    lead = stack.api(stack.user_token(LEAD.sub))
    stack.clients.append(lead)
    added = lead.post(
        f"consortia/{team_id}/members",
        json={"username": MEMBER.sub, "role": "member", "cpu_hours_share": 10},
    )
    assert added.status_code in (200, 201), added.text
    teams_root = stack.hub.state_dir.resolve() / "teams"
    (folder,) = [p for p in teams_root.iterdir() if p.name.startswith("local-team-")]
    st = os.lstat(folder)
    assert stat.S_IMODE(st.st_mode) == 0o3770 and st.st_uid == 0 and st.st_gid > 60000

    home, pid = start(stack, MEMBER.sub)
    link = home / "teams" / folder.name
    assert link.is_symlink() and link.resolve() == folder
    assert umask_of(pid) == "0002"
    (link / "results.txt").write_text("by tessa")
    stack.stop_server(MEMBER.sub)

    other_home, other_pid = start(stack, OUTSIDER.sub)
    assert not (other_home / "teams").exists() or os.listdir(other_home / "teams") == []
    assert umask_of(other_pid) == "0002"
    stack.stop_server(OUTSIDER.sub)

    # Leaving: no link from the next start; the files stay in the team folder.
    gone = lead.delete(f"consortia/{team_id}/members/{MEMBER.sub}")
    assert gone.status_code in (200, 204), gone.text
    home, _ = start(stack, MEMBER.sub)
    assert os.listdir(home / "teams") == []
    assert (folder / "results.txt").read_text() == "by tessa"
    stack.stop_server(MEMBER.sub)
