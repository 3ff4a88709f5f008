"""Named servers through a real JupyterHub 5.5.4 running hub_config, with the real quota
service: the name rule's 400s, the limit the quota service sets (a callable JupyterHub asks),
and the home page's list of servers with size, allocation and cost so far."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from traitlets.config import Config

from dev.procs import free_port
from hub_config.hook import QuotaSpawnHook
from hub_config.named_servers import (
    FALLBACK_LIMIT,
    NamedServerLimit,
    ServerBoard,
    check_server_name,
    configure_named_servers,
)
from hub_config.settings import HubSettings
from tests.support.oidc import OidcProvider, OidcUser
from tests.support.processes import TEST_OUTPUT

from .stack import NexusStack, start_stack
from .test_reconcile import _policy as reconcile_policy
from .test_reconcile import reconcile

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BAD_NAMES = {
    "Upper": "lowercase letters",
    "has space": "lowercase letters",
    "dot.name": "lowercase letters",
    "-dash-first": "starting with a letter or a digit",
    "<script>": "lowercase letters",
    "é": "lowercase letters",
    "x" * 33: "it has 33 characters",
}


def test_the_name_rule() -> None:
    assert check_server_name("") is None  # the default server
    for good in ("a", "analysis-2", "fit_run", "9", "x" * 32):
        assert check_server_name(good) is None, good
    for bad, reason in BAD_NAMES.items():
        refusal = check_server_name(bad)
        assert refusal is not None and reason in refusal, (bad, refusal)


def _person(stack: NexusStack, name: str) -> httpx.Client:
    stack.provider.set_user(OidcUser(name, groups=["myst-users"]))
    return stack.login(name)


def _create(stack: NexusStack, user: str, server: str, **options: str) -> httpx.Response:
    """The hub API's server create, as an admin's tool or the admin page calls it."""
    path = f"users/{quote(user, safe='')}/servers/{quote(server, safe='')}"
    return stack.hub_admin().post(path, json=options)


def _named(stack: NexusStack, user: str) -> set[str]:
    """Every named server the hub holds for `user`, running or not."""
    resp = stack.hub_admin().get(f"users/{user}", params={"include_stopped_servers": "1"})
    servers = resp.json().get("servers") or {}
    return {name for name in servers if name}


def _remove(stack: NexusStack, user: str, server: str) -> None:
    resp = stack.hub_admin().request(
        "DELETE", f"users/{user}/servers/{server}", json={"remove": True}
    )
    assert resp.status_code in (202, 204), resp.text
    stack.wait_gone(user, server)


def test_bad_names_get_a_clear_400_and_leave_no_server_behind(stack: NexusStack) -> None:
    browser = _person(stack, "nadia")
    for bad, reason in BAD_NAMES.items():
        resp = _create(stack, "nadia", bad, profile="small")
        assert resp.status_code == 400, (bad, resp.text)
        message = resp.json()["message"]
        assert "cannot be a server name" in message and reason in message, message
        page = browser.get(f"{stack.hub.url}/hub/spawn/nadia/{quote(bad, safe='')}")
        assert page.status_code == 400, (bad, page.status_code)
        assert "cannot be a server name" in page.text
        assert "<script>" not in page.text  # the name is shown escaped
    # The spawn form's POST skips JupyterHub's limit check; the pre-spawn hook refuses it.
    home = browser.get(f"{stack.hub.url}/hub/home")
    assert home.status_code == 200
    xsrf = browser.cookies.get("_xsrf", domain="127.0.0.1") or ""
    post = browser.post(
        f"{stack.hub.url}/hub/spawn/nadia/Bad-Post",
        data={"profile": "small", "_xsrf": xsrf},
        follow_redirects=False,
    )
    assert post.status_code == 400, post.text[-1500:]
    assert "cannot be a server name" in post.text
    assert not [s for s in stack.open_sessions() if s["username"] == "nadia"]
    # JupyterHub wrote that server's record before the hook ran: it stays, stopped (it never
    # started), until deleted; the GET and API paths above left none.
    assert _named(stack, "nadia") == {"Bad-Post"}
    assert stack.server("nadia", "Bad-Post") is None
    _remove(stack, "nadia", "Bad-Post")
    assert _named(stack, "nadia") == set()


def test_the_limit_is_what_the_quota_service_says_and_follows_a_grant(stack: NexusStack) -> None:
    _person(stack, "nils")
    first = _create(stack, "nils", "one", profile="small")
    assert first.status_code in (201, 202), first.text
    stack.wait_ready("nils", "one")
    try:
        # Entry: one running server, so one named server.
        refused = _create(stack, "nils", "two", profile="small")
        assert refused.status_code == 400, refused.text
        assert "already has the maximum of 1 named servers" in refused.json()["message"]
        assert _named(stack, "nils") == {"one"}

        grant = stack.quota_admin().post(
            "admin/allocations", json={"username": "nils", "tier": "research", "reason": "test"}
        )
        assert grant.status_code == 201, grant.text
        research = int(grant.json()["id"])
        # Research: two. The next call asks again; nothing is cached while the service answers.
        second = _create(stack, "nils", "two", profile="medium", allocation=str(research))
        assert second.status_code in (201, 202), second.text
        stack.wait_ready("nils", "two")
        third = _create(stack, "nils", "three", profile="small")
        assert third.status_code == 400, third.text
        assert "already has the maximum of 2 named servers" in third.json()["message"]

        sessions = {s["server_name"]: s for s in stack.open_sessions() if s["username"] == "nils"}
        assert set(sessions) == {"one", "two"}
        assert sessions["one"]["tier"] == "entry" and sessions["one"]["size"] == "small"
        assert sessions["two"]["allocation_id"] == research
        assert sessions["two"]["tier"] == "research" and sessions["two"]["size"] == "medium"
        env = stack.server_env("nils", "two")
        assert env["NEXUS_TIER"] == "research" and env["NEXUS_IDLE_CULL_HOURS"] == "4"
        assert stack.server_env("nils", "one")["NEXUS_IDLE_CULL_HOURS"] == "1"

        browser = stack.login("nils")
        page = browser.get(f"{stack.hub.url}/hub/home")
        assert page.status_code == 200
        table = ServerTable.parse(page.text)
        assert set(table.rows) == {"", "one", "two"}
        assert table.rows[""]["status"] == "stopped" and table.rows[""]["cost"] == "—"
        for name, rate, size, alloc in (
            ("one", 2.0, "Small (small)", "(entry)"),
            ("two", 4.0, "Medium (medium)", "(research)"),
        ):
            row = table.rows[name]
            assert row["status"] == "running" and row["size"].endswith(size), row
            assert (
                row["allocation"].endswith(alloc) and row["rate"] == f"{rate:g} CPU-hours per hour"
            )
            # Nothing charged yet (no stop, no reconcile): cost = rate x time since start.
            hours = (table.as_of - datetime.fromisoformat(row["started_at"])).total_seconds() / 3600
            so_far = float(row["cpu_hours"])
            assert so_far == pytest.approx(rate * hours, abs=1e-5)
            assert row["cost"] == f"{so_far:,.2f} CPU-hours"
        assert "allow 2 named server(s) besides the default one" in " ".join(page.text.split())
    finally:
        for name in ("one", "two"):
            if stack.server("nils", name) is not None:
                stack.stop_server("nils", name)
    # Stopped: the sessions are closed and charged, one each.
    assert not [s for s in stack.open_sessions() if s["username"] == "nils"]
    usage = stack.quota_admin().get("admin/users/nils").json()
    used = {a["tier"]: a["cpu_hours_used"] for a in usage["allocations"]}
    assert used["entry"] > 0 and used["research"] > 0


def test_the_limit_falls_back_when_the_quota_service_is_unreachable(stack: NexusStack) -> None:
    async def run() -> tuple[int, int, int]:
        live = QuotaSpawnHook(quota_url=stack.quota_url, api_token=stack.hook_token, timeout=5)
        dead = QuotaSpawnHook(
            quota_url=f"http://127.0.0.1:{free_port()}/services/quota/",
            api_token=stack.hook_token,
            timeout=2,
        )
        limit = NamedServerLimit(live)
        try:
            seen = await limit.limit("nils")  # Research since the test above, or Entry alone
            limit.hook = dead
            remembered = await limit.limit("nils")
            unknown = await limit.limit("never-seen")
        finally:
            await live.close()
            await dead.close()
        return seen, remembered, unknown

    seen, remembered, unknown = asyncio.run(run())
    assert seen in (1, 2)
    assert remembered == seen  # the last answer for that person
    assert unknown == FALLBACK_LIMIT == 1


class ServerTable(HTMLParser):
    """The home page's `#nexus-servers` table: its rows by server name, cells by class."""

    def __init__(self) -> None:
        super().__init__()
        self.as_of = datetime.min
        self.rows: dict[str, dict[str, str]] = {}
        self._row: dict[str, str] | None = None
        self._cell: str | None = None

    @classmethod
    def parse(cls, text: str) -> ServerTable:
        table = cls()
        table.feed(text)
        return table

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a: dict[str, Any] = dict(attrs)
        if tag == "table" and a.get("id") == "nexus-servers":
            if a["data-as-of"]:  # empty: the quota service did not answer
                self.as_of = datetime.fromisoformat(a["data-as-of"])
        elif tag == "tr" and "nexus-server" in (a.get("class") or "").split():
            self._row = {"started_at": a["data-started-at"], "cpu_hours": a["data-cpu-hours"]}
            self.rows[a["data-server-name"]] = self._row
        elif tag == "td" and self._row is not None:
            self._cell = (a.get("class") or "").removeprefix("nexus-server-")
            self._row[self._cell] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row is not None and self._cell is not None:
            self._row[self._cell] = (self._row[self._cell] + " " + data.strip()).strip()


def test_configuration_keeps_an_operators_off_switch(tmp_path: Path) -> None:
    for preset, expected in ((None, True), (False, False), (True, True)):
        c = Config()
        if preset is not None:
            c.JupyterHub.allow_named_servers = preset  # z2jh: hub.allowNamedServers
        c.JupyterHub.named_server_limit_per_user = 3  # z2jh: hub.namedServerLimitPerUser
        hook = QuotaSpawnHook(settings=HubSettings(state_dir=tmp_path))
        limit = configure_named_servers(c, hook)
        assert c.JupyterHub.allow_named_servers is expected
        # A constant never wins over the quota service's limit.
        assert c.JupyterHub.named_server_limit_per_user is limit
        assert isinstance(c.JupyterHub.template_vars["nexus_servers"], ServerBoard)


def test_the_reconciler_charges_and_culls_a_named_server_by_its_tier(
    stack: NexusStack, tmp_path: Path
) -> None:
    _person(stack, "nell")
    created = _create(stack, "nell", "notes", profile="small")
    assert created.status_code in (201, 202), created.text
    stack.wait_ready("nell", "notes")
    try:
        # Entry's idle time made tiny for this run only; the server is a named one.
        policy = reconcile_policy(tmp_path, idle_cull_hours=1e-6)
        report = reconcile(stack, policy=policy)
        actions = [
            (a["server_name"], a["action"], a["reason"])
            for a in report["actions"]
            if a["username"] == "nell"
        ]
        assert actions == [("notes", "stopped", "idle")]
        stack.wait_gone("nell", "notes")
        assert not [s for s in stack.open_sessions() if s["username"] == "nell"]
        usage = stack.quota_admin().get("admin/users/nell").json()
        (entry,) = usage["allocations"]
        assert entry["cpu_hours_used"] > 0 and entry["running_servers"] == 0
    finally:
        if stack.server("nell", "notes") is not None:
            stack.stop_server("nell", "notes")


def test_the_home_page_escapes_what_the_ledger_holds(stack: NexusStack) -> None:
    """A session name the hub never allowed (the ledger takes any, e.g. from an older hub) is
    shown as text: every value on the page goes through Jinja's autoescape."""
    browser = _person(stack, "noor")
    markup = '<img src=x onerror="alert(1)">'
    with stack.api(stack.hook_token) as hook:
        decision = hook.post(
            "hub/spawn-decisions",
            json={"username": "noor", "server_name": markup, "size": "small"},
        )
        assert decision.status_code == 200 and decision.json()["allowed"], decision.text
        try:
            page = browser.get(f"{stack.hub.url}/hub/home")
            assert page.status_code == 200
            assert markup not in page.text
            assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page.text
            row = ServerTable.parse(page.text).rows[markup]
            assert row["size"] == "Small (small)"
            assert row["status"] == "stopped; its session is still open"
        finally:
            hook.post("hub/sessions/stop", json={"username": "noor", "server_name": markup})


@pytest.fixture(scope="module")
def unreachable(oidc_provider: OidcProvider) -> Iterator[NexusStack]:
    """A hub whose quota service never answers, fail mode open."""
    workdir = TEST_OUTPUT / "hub_config" / "named_servers_unreachable"
    shutil.rmtree(workdir, ignore_errors=True)
    st = start_stack(workdir, oidc_provider, fail_mode="open", quota=False)
    try:
        yield st
    finally:
        st.stop()


def test_without_the_quota_service_the_limit_is_one_and_the_page_says_costs_are_unknown(
    unreachable: NexusStack,
) -> None:
    stack = unreachable
    browser = _person(stack, "nico")
    first = _create(stack, "nico", "one", profile="small")
    assert first.status_code in (201, 202), first.text
    stack.wait_ready("nico", "one")
    try:
        refused = _create(stack, "nico", "two", profile="small")
        assert refused.status_code == 400, refused.text
        assert "already has the maximum of 1 named servers" in refused.json()["message"]
        page = browser.get(f"{stack.hub.url}/hub/home")
        assert page.status_code == 200
        assert "sizes and costs are not shown" in page.text
        rows = ServerTable.parse(page.text).rows
        assert rows["one"]["status"] == "running"
        assert rows["one"]["cost"] == "unknown (quota service unreachable)"
        assert "allow 1 named server(s)" in " ".join(page.text.split())
    finally:
        stack.stop_server("nico", "one")
