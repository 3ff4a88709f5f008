"""Named servers in the ledger: each server name its own session, charged to the allocation
chosen for it and held to that allocation's tier; the limit the hub derives from the
entitlements; the running servers the hub's home page shows. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from pydantic import TypeAdapter

from hub_config.named_servers import FALLBACK_LIMIT, limit_from
from hub_config.quota_client import Entitlements as HubEntitlements
from hub_config.quota_client import RunningServers as HubRunningServers
from quota_service.factory import Factory
from quota_service.handlers import hub as hub_routes
from quota_service.models.v1 import GrantIn, SpawnAllowed, SpawnDenied
from quota_service.services.base import Actor
from tests.support.clock import FakeClock
from tests.support.quota import QuotaStack

pytestmark = pytest.mark.integration


def allowed(decision: SpawnAllowed | SpawnDenied) -> SpawnAllowed:
    assert isinstance(decision, SpawnAllowed), decision
    return decision


def denied(decision: SpawnAllowed | SpawnDenied) -> SpawnDenied:
    assert isinstance(decision, SpawnDenied), decision
    return decision


def grant_research(factory: Factory, username: str) -> int:
    with factory.unit_of_work() as svc:
        view = svc.allocations.grant(
            "admin", GrantIn(username=username, tier="research", reason="test")
        )
    return view.id


def entry_id(factory: Factory, username: str) -> int:
    with factory.unit_of_work() as svc:
        ent = svc.spawn.entitlements(username)
    return next(a.id for a in ent.allocations if a.tier == "entry")


def hub_limit(factory: Factory, username: str) -> int:
    """The limit hub_config gives JupyterHub, from the entitlements as the hub parses them."""
    with factory.unit_of_work() as svc:
        ent = svc.spawn.entitlements(username)
    return limit_from(HubEntitlements.model_validate(ent.model_dump(mode="json")))


def test_each_named_server_is_its_own_session_on_the_allocation_chosen_for_it(
    factory: Factory, clock: FakeClock
) -> None:
    research = grant_research(factory, "nora")
    entry = entry_id(factory, "nora")
    with factory.unit_of_work() as svc:
        default = allowed(svc.spawn.decide("nora", "", "small"))
        analysis = allowed(svc.spawn.decide("nora", "analysis", "large", research))
        # Research allows 2 running servers: the default and "analysis" are both on it.
        full = denied(svc.spawn.decide("nora", "third", "small", research))
        # The Entry allocation is held to its own tier's limit (1), apart from Research's.
        on_entry = allowed(svc.spawn.decide("nora", "third", "small", entry))
        entry_full = denied(svc.spawn.decide("nora", "fourth", "medium", entry))
    assert default.allocation_id == research  # highest tier by default
    assert analysis.allocation_id == research and analysis.size.name == "large"
    assert len({default.session_id, analysis.session_id, on_entry.session_id}) == 3
    assert (full.code, full.limit, full.used) == ("concurrent_server_limit", 2.0, 2.0)
    assert on_entry.allocation_id == entry and on_entry.tier == "entry"
    assert (entry_full.code, entry_full.limit, entry_full.used) == (
        "concurrent_server_limit",
        1.0,
        1.0,
    )
    # Tier limits travel with each server: culling and the longest session are the tier's.
    assert (analysis.idle_cull_hours, analysis.max_session_hours) == (4, 72)
    assert (on_entry.idle_cull_hours, on_entry.max_session_hours) == (1, 24)

    clock.advance(minutes=30)
    with factory.unit_of_work() as svc:
        view = svc.spawn.running_servers("nora")
    assert view.as_of == clock.current
    rows = {s.server_name: s for s in view.servers}
    assert [s.server_name for s in view.servers] == ["", "analysis", "third"]
    # Half an hour: small 2 CPU-hours/h -> 1.0, large 8 -> 4.0; nothing charged yet.
    assert {n: r.cpu_hours_so_far for n, r in rows.items()} == {
        "": 1.0,
        "analysis": 4.0,
        "third": 1.0,
    }
    assert {r.cpu_hours_charged for r in rows.values()} == {0.0}
    assert rows["analysis"].allocation_id == research
    assert rows["analysis"].size_display_name.startswith("Large")
    assert rows["third"].tier == "entry" and rows["third"].allocation_label == "Entry (nora)"

    # Stopping the named server closes its session alone, charged to its allocation.
    with factory.unit_of_work() as svc:
        closed = svc.spawn.stop("nora", "analysis")
        me = svc.users.me("nora")
    assert [(c.session_id, c.cpu_hours) for c in closed] == [(analysis.session_id, 4.0)]
    used = {a.tier: a.cpu_hours_used for a in me.allocations}
    assert used == {"research": 4.0, "entry": 0.0}

    # The reconciler's charge moves figures from "so far" into the ledger; sums agree.
    clock.advance(minutes=30)
    with factory.unit_of_work() as svc:
        charged = svc.spawn.charge_open()
        view = svc.spawn.running_servers("nora")
    assert charged == 4.0  # two small servers, one hour each
    assert {s.server_name: (s.cpu_hours_charged, s.cpu_hours_so_far) for s in view.servers} == {
        "": (2.0, 2.0),
        "third": (2.0, 2.0),
    }
    # A freed Research slot takes a new named server again.
    with factory.unit_of_work() as svc:
        allowed(svc.spawn.decide("nora", "analysis-2", "medium", research))


def test_the_same_name_is_one_session_per_person(factory: Factory) -> None:
    grant_research(factory, "olga")
    grant_research(factory, "omar")
    with factory.unit_of_work() as svc:
        first = allowed(svc.spawn.decide("olga", "fit", "small"))
    with factory.unit_of_work() as svc:
        # Another person's server of the same name is theirs, not a replacement.
        other = allowed(svc.spawn.decide("omar", "fit", "small"))
        # The same person's name again: the stale session is closed, not counted twice.
        again = allowed(svc.spawn.decide("olga", "fit", "small"))
        olga = svc.spawn.running_servers("olga")
        omar = svc.spawn.running_servers("omar")
        stale = svc.spawn.get_session(first.session_id)
    assert [s.session_id for s in olga.servers] == [again.session_id]
    assert [s.session_id for s in omar.servers] == [other.session_id]
    assert stale.close_reason == "replaced"


def test_the_hubs_limit_follows_the_usable_allocations(factory: Factory) -> None:
    assert hub_limit(factory, "pia") == 1  # Entry: 1 concurrent server
    research = grant_research(factory, "pia")
    assert hub_limit(factory, "pia") == 2  # Research: 2
    with factory.unit_of_work() as svc:
        c = svc.consortia.create(
            "root",
            name="named-team",
            proposal_ref="ROMAN-C-17",
            cpu_hours=100,
            home_quota_soft_gib=10,
            home_quota_hard_gib=20,
            term_days=365,
            leads=["pia"],
            reason="panel",
        )
        svc.consortia.set_share(Actor("pia"), c.id, "pia", 50)
    assert hub_limit(factory, "pia") == 4  # Consortium: 4
    with factory.unit_of_work() as svc:
        svc.allocations.revoke("admin", c.pool.id, reason="test")
        svc.allocations.revoke("admin", research, reason="test")
    # Only what can still be charged counts: back to Entry's 1.
    assert hub_limit(factory, "pia") == 1
    assert FALLBACK_LIMIT == 1


def test_a_person_with_no_usable_allocation_gets_the_smallest_limit() -> None:
    ent = HubEntitlements.model_validate(
        {
            "username": "quinn",
            "tier": "entry",
            "allocations": [{"id": 1, "tier": "entry", "label": "Entry", "status": "revoked"}],
            "sizes": [],
        }
    )
    # 0 would mean "no limit" to JupyterHub; the smallest real limit is 1.
    assert limit_from(ent) == 1


def _hub(stack: QuotaStack, token: str) -> httpx.Client:
    return stack.api(token)


def test_running_servers_over_http_for_the_hub_only(stack: QuotaStack) -> None:
    user = f"ns-{stack.backend}"  # type: ignore[attr-defined]
    with _hub(stack, stack.hook_token) as hook:
        for name, size in (("", "small"), ("notes", "medium")):
            pass_ = hook.post(
                "hub/spawn-decisions", json={"username": user, "server_name": name, "size": size}
            )
            assert pass_.status_code == 200, pass_.text
        # Entry allows one: the named one is refused, and not listed.
        assert pass_.json()["code"] == "concurrent_server_limit"
        resp = hook.get(f"hub/users/{user}/servers")
        assert resp.status_code == 200, resp.text
        body = HubRunningServers.model_validate(resp.json())
        nobody = hook.get("hub/users/nobody-here/servers")
    assert [s.server_name for s in body.servers] == [""]
    row = body.servers[0]
    assert (row.size, row.cpu_hours_per_hour, row.tier) == ("small", 2.0, "entry")
    raw = resp.json()["servers"][0]
    elapsed = body.as_of - datetime.fromisoformat(raw["charged_until"])
    expected = raw["cpu_hours_charged"] + 2.0 * elapsed.total_seconds() / 3600
    assert row.cpu_hours_so_far == pytest.approx(expected, abs=1e-6)
    assert nobody.status_code == 200 and nobody.json()["servers"] == []
    with stack.api(stack.user_token(user)) as person:
        refused = person.get(f"hub/users/{user}/servers")
    assert refused.status_code == 403, refused.text
    with _hub(stack, stack.hook_token) as hook:
        hook.post("hub/sessions/stop", json={"username": user, "server_name": ""})


def test_the_hub_client_reads_the_running_servers_answer(
    factory: Factory, clock: FakeClock
) -> None:
    """The contract (as tests/hub_config/test_contract.py checks the other routes): the body
    FastAPI sends for this route, read by the hub's model, with every client field sent."""
    route = next(
        r
        for r in hub_routes.router.routes
        if isinstance(r, APIRoute) and r.path == "/hub/users/{username}/servers"
    )
    research = grant_research(factory, "rita")
    with factory.unit_of_work() as svc:
        allowed(svc.spawn.decide("rita", "fit", "large", research))
    clock.advance(minutes=15)
    with factory.unit_of_work() as svc:
        answer = svc.spawn.running_servers("rita")
    adapter: TypeAdapter[Any] = TypeAdapter(route.response_model)
    body = adapter.dump_python(adapter.validate_python(answer.model_dump()), mode="json")
    read = HubRunningServers.model_validate(body)
    (server,) = body["servers"]
    assert set(HubRunningServers.model_fields) <= set(body)
    assert set(type(read.servers[0]).model_fields) <= set(server)
    assert (read.servers[0].server_name, read.servers[0].cpu_hours_so_far) == ("fit", 2.0)
