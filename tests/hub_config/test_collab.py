"""Team collaboration servers through the real hub (hub_config, local spawner), the real quota
service and real lab servers (kernels/lab-server's lock, with jupyter-collaboration).

A member starts the team's server through the quota service; it runs as the team user
`team~<team_dir>`, shared by JupyterHub with the team's members only, charged to the pool.
Another team's member and a non-member are refused by the quota service (403) and by the
hub's server (403). The idle stop runs the reconciler in-process with an injected clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from hub_config.collab import RTC_OFF, RTC_ON, reserved_name_refusal, rtc_args
from hub_config.teamdirs import team_dir
from quota_service.config import Settings
from quota_service.factory import Factory
from quota_service.hubapi import HubApi
from quota_service.jobs.reconcile import ReconcileOptions, reconcile
from quota_service.services.collab import idle_since
from tests.support.consortia import create_consortium
from tests.support.oidc import OidcUser

from .stack import NexusStack

ANN, BEN, CAT, DAN = "cl-ann", "cl-ben", "cl-cat", "cl-dan"
# "Collab Alpha" is not a plain folder name: its team_dir carries a hash (hub_config/teamdirs.py).
TEAM_USER = "team~" + team_dir("Collab Alpha")


@pytest.fixture(scope="module")
def teams(stack: NexusStack) -> Iterator[dict[str, int]]:
    """Collab Alpha (lead ann, member ben), Collab Beta (lead cat); dan belongs to neither."""
    for name in (ANN, BEN, CAT, DAN):
        # Signed in once through MyST, so the hub's allowed groups let their tokens in.
        stack.provider.set_user(OidcUser(name, groups=["myst-users"]))
        stack.login(name)
        me = stack.api(stack.user_token(name)).get("me")
        assert me.status_code == 200, me.text
    adm = stack.quota_admin()
    alpha = create_consortium(adm, "Collab Alpha", [ANN], cpu_hours=100)
    added = _as(stack, ANN).post(
        f"consortia/{alpha}/members", json={"username": BEN, "cpu_hours_share": 20}
    )
    assert added.status_code == 201, added.text
    beta = create_consortium(adm, "Collab Beta", [CAT], cpu_hours=100)
    yield {"alpha": alpha, "beta": beta}


def _as(stack: NexusStack, name: str) -> httpx.Client:
    client = stack.api(stack.user_token(name), timeout=120)
    stack.clients.append(client)
    return client


def _lab_status(stack: NexusStack, name: str) -> int:
    """What the team server's own API answers `name`'s hub token (the hub checks access)."""
    url = f"{stack.hub.url}/user/{TEAM_USER}/api/status"
    token = stack.user_token(name)
    with httpx.Client(timeout=30) as client:
        return client.get(url, headers={"Authorization": f"token {token}"}).status_code


def test_only_members_see_start_and_stop_it(stack: NexusStack, teams: dict[str, int]) -> None:
    alpha = teams["alpha"]
    # A non-member and a member of another team are refused, before anything starts.
    for outsider in (DAN, CAT):
        for method in ("get", "post", "delete"):
            resp = getattr(_as(stack, outsider), method)(f"consortia/{alpha}/collab")
            assert resp.status_code == 403, (outsider, method, resp.text)
            assert resp.json()["code"] == "not_a_member"
    assert _as(stack, DAN).get("consortia/999999/collab").status_code == 404
    assert stack.server(TEAM_USER) is None

    # A member (not a lead) starts it: the team user, at the pool's smallest size.
    started = _as(stack, BEN).post(f"consortia/{alpha}/collab")
    assert started.status_code == 202, started.text
    view = started.json()
    assert view["team_user"] == TEAM_USER
    assert view["members"] == [ANN, BEN]
    assert view["size"] == "small"
    assert view["idle_stop_hours"] == 3.0
    server = stack.wait_ready(TEAM_USER)
    assert server["url"] == f"/user/{TEAM_USER}/"

    # Real-time collaboration is on in the team server's lab.
    cmdline = Path(f"/proc/{server['state']['pid']}/cmdline").read_bytes().split(b"\0")
    assert RTC_ON.encode() in cmdline
    assert RTC_OFF.encode() not in cmdline

    # Shared, by JupyterHub, with exactly the members.
    with stack.hub.api(stack.tokens["quota"]) as quota_hub:
        shares = quota_hub.get(f"shares/{TEAM_USER}/")
    assert shares.status_code == 200, shares.text
    assert sorted(s["user"]["name"] for s in shares.json()["items"]) == [ANN, BEN]

    # The hub lets members into the server and refuses everyone else.
    assert _lab_status(stack, ANN) == 200
    assert _lab_status(stack, BEN) == 200
    assert _lab_status(stack, DAN) == 403
    assert _lab_status(stack, CAT) == 403

    # The ledger: one open session of the team user, charged to the consortium's pool.
    pool_id = view["charged_to"]
    consortium = _as(stack, ANN).get(f"consortia/{alpha}").json()
    assert consortium["pool"]["id"] == pool_id
    sessions = [s for s in stack.open_sessions() if s["username"] == TEAM_USER]
    assert [(s["server_name"], s["allocation_id"], s["size"]) for s in sessions] == [
        ("", pool_id, "small")
    ]

    # Starting again while it runs changes nothing; another member stops it.
    again = _as(stack, ANN).post(f"consortia/{alpha}/collab")
    assert again.status_code == 202, again.text
    assert len([s for s in stack.open_sessions() if s["username"] == TEAM_USER]) == 1
    stopped = _as(stack, ANN).delete(f"consortia/{alpha}/collab")
    assert stopped.status_code == 202, stopped.text
    stack.wait_gone(TEAM_USER)
    assert [s for s in stack.open_sessions() if s["username"] == TEAM_USER] == []
    # Its time was charged to the pool (which nothing else charged).
    assert consortium["pool"]["cpu_hours_used"] == 0
    after = _as(stack, ANN).get(f"consortia/{alpha}").json()["pool"]
    assert 0 < after["cpu_hours_used"] < 1
    assert after["cpu_hours_left"] == pytest.approx(100 - after["cpu_hours_used"])

    mine = _as(stack, BEN).get("me/collab").json()
    assert [(t["consortium"], t["running"]) for t in mine] == [("Collab Alpha", False)]
    assert _as(stack, DAN).get("me/collab").json() == []


def test_the_reconciler_stops_it_hours_after_the_last_activity(
    stack: NexusStack, teams: dict[str, int]
) -> None:
    alpha = teams["alpha"]
    assert _as(stack, ANN).post(f"consortia/{alpha}/collab").status_code == 202
    stack.wait_ready(TEAM_USER)
    hub = HubApi(stack.hub.api_url, stack.tokens["jobs"])
    (server,) = [s for s in hub.servers() if s.username == TEAM_USER]
    last = server.last_activity or server.started
    assert last is not None
    settings = Settings(database_url=stack.db_url)
    options = ReconcileOptions.from_settings(settings.reconcile)
    assert options.collab_idle_hours == 3.0

    def run_at(hours: float) -> list[tuple[str, str]]:
        clock = lambda: last + timedelta(hours=hours)  # noqa: E731
        factory = Factory(settings, clock=clock)
        try:
            report = reconcile(factory, hub, options)
        finally:
            factory.engine.dispose()
        return [(a.action, a.reason) for a in report.actions if a.username == TEAM_USER]

    # A team server with no session (its start was not recorded) is adopted onto the pool.
    with stack.api(stack.hook_token) as hook:
        closed = hook.post("hub/sessions/stop", json={"username": TEAM_USER, "server_name": ""})
        assert closed.status_code == 200, closed.text
    assert [s for s in stack.open_sessions() if s["username"] == TEAM_USER] == []
    assert run_at(0) == [("adopted", "fail_open")]
    pool_id = _as(stack, ANN).get(f"consortia/{alpha}").json()["pool"]["id"]
    adopted = [s["allocation_id"] for s in stack.open_sessions() if s["username"] == TEAM_USER]
    assert adopted == [pool_id]

    assert run_at(2.99) == []
    assert stack.server(TEAM_USER) is not None
    assert run_at(3.0) == [("stopped", "collab_idle")]
    stack.wait_gone(TEAM_USER)
    hub.close()


def test_idle_since_counts_from_the_start_without_activity() -> None:
    t0 = datetime(2026, 12, 7, 12, tzinfo=UTC)
    assert not idle_since(None, None, t0, 3)
    assert not idle_since(None, t0, t0 + timedelta(hours=2.5), 3)
    assert idle_since(None, t0, t0 + timedelta(hours=3), 3)
    assert not idle_since(t0 + timedelta(hours=1), t0, t0 + timedelta(hours=3.5), 3)


def test_team_names_are_reserved_and_rtc_is_off_on_personal_servers() -> None:
    assert reserved_name_refusal("team~alpha") is not None
    assert reserved_name_refusal("Team~Alpha") is not None
    assert reserved_name_refusal("teamalpha") is None
    assert reserved_name_refusal("team-alpha") is None
    assert rtc_args("ellen") == [RTC_OFF]
    assert rtc_args(TEAM_USER) == [RTC_ON]


def test_the_home_page_lists_it_and_leaving_the_team_ends_access(
    stack: NexusStack, teams: dict[str, int]
) -> None:
    alpha = teams["alpha"]
    assert _as(stack, BEN).post(f"consortia/{alpha}/collab").status_code == 202
    stack.wait_ready(TEAM_USER)

    # Members see it on the hub's home page, with its link; others see only the block.
    ben_home = stack.login(BEN).get(f"{stack.hub.url}/hub/home")
    assert ben_home.status_code == 200
    assert f'data-team-user="{TEAM_USER}"' in ben_home.text
    assert f'href="/user/{TEAM_USER}/"' in ben_home.text
    dan_home = stack.login(DAN).get(f"{stack.hub.url}/hub/home")
    assert 'id="nexus-collab"' in dan_home.text
    assert TEAM_USER not in dan_home.text

    # ben leaves (the lead removes him): the hub refuses him at once; ann keeps access.
    removed = _as(stack, ANN).delete(f"consortia/{alpha}/members/{BEN}")
    assert removed.status_code == 200, removed.text
    with stack.hub.api(stack.tokens["quota"]) as quota_hub:
        shares = quota_hub.get(f"shares/{TEAM_USER}/").json()["items"]
    assert [s["user"]["name"] for s in shares] == [ANN]
    assert _lab_status(stack, BEN) == 403
    assert _lab_status(stack, ANN) == 200
    assert _as(stack, BEN).delete(f"consortia/{alpha}/collab").status_code == 403

    # Added back while it runs: shared with him at once (a new token of his: the lab server
    # remembers what the hub said of the old one for a few minutes).
    readded = _as(stack, ANN).post(f"consortia/{alpha}/members", json={"username": BEN})
    assert readded.status_code == 201, readded.text
    with stack.hub.api(stack.tokens["quota"]) as quota_hub:
        shares = quota_hub.get(f"shares/{TEAM_USER}/").json()["items"]
    assert sorted(s["user"]["name"] for s in shares) == [ANN, BEN]
    fresh = stack.hub_admin().post(f"users/{BEN}/tokens", json={"note": "after re-joining"})
    assert fresh.status_code == 201, fresh.text
    with httpx.Client(timeout=30) as client:
        status = client.get(
            f"{stack.hub.url}/user/{TEAM_USER}/api/status",
            headers={"Authorization": f"token {fresh.json()['token']}"},
        )
    assert status.status_code == 200
    assert _as(stack, BEN).delete(f"consortia/{alpha}/collab").status_code == 202
    stack.wait_gone(TEAM_USER)


def test_personal_servers_run_without_collaboration(stack: NexusStack) -> None:
    browser = stack.login(DAN)
    resp = stack.spawn(browser, {"profile": "small"})
    assert resp.status_code == 302, resp.text[-2000:]
    server = stack.wait_ready(DAN)
    cmdline = Path(f"/proc/{server['state']['pid']}/cmdline").read_bytes().split(b"\0")
    assert RTC_OFF.encode() in cmdline
    assert RTC_ON.encode() not in cmdline
    stack.stop_server(DAN)


def _home_entries(html: str) -> dict[str, str]:
    """The home page's team server entries, by team name: each entry's HTML."""
    entries = re.findall(r'<li class="nexus-collab-server".*?</li>', html, flags=re.S)
    named = {}
    for entry in entries:
        team = re.search(r'<strong class="nexus-collab-team">(.*?)</strong>', entry)
        assert team is not None, entry
        named[team.group(1)] = entry
    return named


def test_the_home_page_starts_and_stops_every_team_of_the_person(
    stack: NexusStack, teams: dict[str, int]
) -> None:
    """Every team the person belongs to is on the hub's home page (as the entitlements at
    sign-in list them): stopped with Start, running with Open and Stop; the links go to the
    quota service's confirmation pages of that consortium. Others' teams are not there."""
    alpha, beta = teams["alpha"], teams["beta"]
    assert stack.server(TEAM_USER) is None
    quota = "/services/quota/collab"
    # Signed in again after joining: the entitlements at sign-in list the team.
    ben, ann, dan = stack.login(BEN), stack.login(ANN), stack.login(DAN)
    for browser in (ben, ann):
        home = browser.get(f"{stack.hub.url}/hub/home")
        assert home.status_code == 200
        entries = _home_entries(home.text)
        assert list(entries) == ["Collab Alpha"]
        (entry,) = entries.values()
        assert f'data-consortium="{alpha}"' in entry
        assert f'data-team-user="{TEAM_USER}"' in entry
        assert '<span class="nexus-collab-state">stopped</span>' in entry
        assert f'href="{quota}/{alpha}/start?from=hub"' in entry
        assert "nexus-collab-open" not in entry and "/stop" not in entry
    # cat leads Beta only; dan belongs to no team.
    cat_home = stack.login(CAT).get(f"{stack.hub.url}/hub/home").text
    assert list(_home_entries(cat_home)) == ["Collab Beta"]
    assert f'href="{quota}/{beta}/start?from=hub"' in cat_home
    assert f"{quota}/{alpha}/" not in cat_home
    dan_home = dan.get(f"{stack.hub.url}/hub/home").text
    assert _home_entries(dan_home) == {}
    assert 'class="nexus-collab-none"' in dan_home

    assert _as(stack, BEN).post(f"consortia/{alpha}/collab").status_code == 202
    stack.wait_ready(TEAM_USER)
    for browser in (ben, ann):
        entry = _home_entries(browser.get(f"{stack.hub.url}/hub/home").text)["Collab Alpha"]
        assert '<span class="nexus-collab-state">running</span>' in entry
        assert (
            f'class="btn btn-xs btn-primary nexus-collab-open" href="/user/{TEAM_USER}/"' in entry
        )
        assert f'href="{quota}/{alpha}/stop?from=hub"' in entry
        assert "/start" not in entry
    assert TEAM_USER not in dan.get(f"{stack.hub.url}/hub/home").text
    assert _as(stack, ANN).delete(f"consortia/{alpha}/collab").status_code == 202
    stack.wait_gone(TEAM_USER)

    # Removed from the team (his share revoked): gone from his home page at the next sign-in.
    assert _as(stack, ANN).delete(f"consortia/{alpha}/members/{BEN}").status_code == 200
    ben_home = stack.login(BEN).get(f"{stack.hub.url}/hub/home").text
    assert _home_entries(ben_home) == {}
    assert TEAM_USER not in ben_home
    readded = _as(stack, ANN).post(f"consortia/{alpha}/members", json={"username": BEN})
    assert readded.status_code == 201, readded.text
