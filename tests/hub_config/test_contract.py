"""The contract between the hub's client (hub_config/quota_client.py) and the quota service.

Every answer the hub reads is built by the service's own code path (the `hub/` handlers, on a
real database), serialized as the route declares (`response_model`, as FastAPI sends it) and
read by the hub's client models. A client field the service never sends fails here: the client
would only ever see its default.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter

from hub_config import quota_client as client
from quota_service.auth import Identity
from quota_service.config import Settings
from quota_service.factory import Factory
from quota_service.filesystem.manifest import HOME_INACTIVE
from quota_service.handlers import hub
from quota_service.models.v1 import SessionStopIn, SpawnDecisionIn
from quota_service.schema.purge_manifest import ManifestStatus, PurgeManifest
from quota_service.schema.purge_run import PurgeRun
from quota_service.services.base import Actor
from tests.support.clock import FakeClock
from tests.support.databases import DatabaseFactory
from tests.support.processes import poll_until_async

pytestmark = pytest.mark.integration

HUB = Identity(name="hub", kind="service")
ROUTES = {
    (m, r.path): r for r in hub.router.routes if isinstance(r, APIRoute) for m in r.methods or ()
}
# Each route the hub's client calls, and the model it reads the answer with.
CLIENT_READS: dict[tuple[str, str], Any] = {
    ("GET", "/hub/users/{username}/entitlements"): client.Entitlements,
    ("POST", "/hub/spawn-decisions"): client.SpawnDecision,
    ("GET", "/hub/users/{username}/restore"): client.RestoreStatus,
    ("POST", "/hub/sessions/stop"): client.StopResult,
}


def sent(method: str, path: str, answer: BaseModel) -> Any:
    """The JSON body FastAPI sends for `answer` on this route (its declared response model)."""
    adapter: TypeAdapter[Any] = TypeAdapter(ROUTES[(method, path)].response_model)
    return adapter.dump_python(adapter.validate_python(answer.model_dump()), mode="json")


def models_of(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds (through unions, lists and Optional)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list):
        return [m for a in args for m in models_of(a)]
    return []


def unsent(model: type[BaseModel], bodies: list[Any], where: str = "") -> list[str]:
    """Fields of the client's `model` (and of the models nested in it) missing from every body."""
    dicts = [b for b in bodies if isinstance(b, dict)]
    missing = []
    for name, info in model.model_fields.items():
        found = [b[name] for b in dicts if name in b]
        if not found:
            missing.append(where + name)
            continue
        inner = [x for v in found for x in (v if isinstance(v, list) else [v])]
        for nested in models_of(info.annotation):
            missing += unsent(nested, inner, f"{where}{name}.")
    return missing


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def factory(
    databases: DatabaseFactory, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Factory]:
    monkeypatch.setenv("NEXUS_STORAGE_STATE_DIR", str(tmp_path / "state"))
    homes = tmp_path / "homes"
    homes.mkdir()
    settings = Settings(
        database_url=databases.new("sqlite"), storage_root=homes, restore_on_login=True
    )
    f = Factory(settings, clock=clock)
    try:
        yield f
    finally:
        f.dispose()


def archive_home(factory: Factory, username: str) -> None:
    """Record an archived home (its files are gone, so restoring it fails: also an answer)."""
    now = factory.clock()
    with factory.unit_of_work() as svc:
        user = svc.users.ensure(username)
        run = PurgeRun(
            run_id="contract", created_at=now, actor="test", manifest_dir="/nonexistent",
            action_at=now,
        )  # fmt: skip
        svc.ctx.session.add(run)
        svc.ctx.session.flush()
        svc.ctx.session.add(
            PurgeManifest(
                run_id=run.id, user_id=user.id, area="home", reason=HOME_INACTIVE,
                why="test", path="/nonexistent/manifest.jsonl", entries=1, files=1, bytes=1,
                status=ManifestStatus.done, created_at=now, action_at=now, executed_at=now,
            )
        )  # fmt: skip


def answered_by(model: type[BaseModel], bodies: list[Any]) -> list[Any]:
    """The bodies of one side of the spawn decision's union; every body for other models."""
    if model is client.SpawnAllowed:
        return [b for b in bodies if b["allowed"] is True]
    if model is client.SpawnDenied:
        return [b for b in bodies if b["allowed"] is False]
    return bodies


async def service_answers(factory: Factory, clock: FakeClock) -> dict[tuple[str, str], list[Any]]:
    """Every kind of answer the hub reads, from the service's handlers."""
    ent = ("GET", "/hub/users/{username}/entitlements")
    decide = ("POST", "/hub/spawn-decisions")
    restore = ("GET", "/hub/users/{username}/restore")
    stop = ("POST", "/hub/sessions/stop")
    answers: dict[tuple[str, str], list[Any]] = {k: [] for k in CLIENT_READS}
    answers[ent].append(sent(*ent, await hub.entitlements("alice", factory, HUB)))
    # Medium carries tolerations; xlarge is beyond Entry: a denial.
    for name, size in (("", "medium"), ("other", "xlarge")):
        body = SpawnDecisionIn(username="alice", server_name=name, size=size, release="2026.1")
        answers[decide].append(sent(*decide, await hub.spawn_decision(body, factory, HUB)))
    clock.advance(hours=1)
    stopped = await hub.stop_session(SessionStopIn(username="alice"), factory, HUB)
    answers[stop].append(sent(*stop, stopped))
    # The restore variant of an allowed decision, and the restore's status as the hook polls it.
    archive_home(factory, "bob")
    # bob also leads a team with a share of its pool: his decision carries the team.
    with factory.unit_of_work() as svc:
        team = svc.consortia.create(
            "root",
            name="Contract Team",
            proposal_ref=None,
            cpu_hours=100,
            home_quota_soft_gib=1,
            home_quota_hard_gib=2,
            term_days=30,
            leads=["bob"],
            reason="contract",
        )
        svc.consortia.set_share(Actor("root", is_admin=True), team.id, "bob", 10)
    body = SpawnDecisionIn(username="bob", size="small")
    answers[decide].append(sent(*decide, await hub.spawn_decision(body, factory, HUB)))
    status = await poll_until_async(
        lambda: hub.restore_status("bob", factory, HUB),
        30,
        0.05,
        "bob's restore is still running",
        until=lambda s: s.state != "running",
    )
    answers[restore].append(sent(*restore, status))
    return answers


async def test_the_hub_client_reads_every_answer_and_each_of_its_fields_is_sent(
    factory: Factory, clock: FakeClock
) -> None:
    assert set(CLIENT_READS) <= set(ROUTES), "the hub calls a route the service lacks"
    answers = await service_answers(factory, clock)
    decisions = answers[("POST", "/hub/spawn-decisions")]
    assert [d["allowed"] for d in decisions] == [True, False, True]
    assert decisions[0]["size"]["tolerations"] and decisions[2]["restore"] is not None
    assert [t["name"] for t in decisions[2]["teams"]] == ["Contract Team"]
    # The release the hook sent is the one answered; none sent: the current one.
    assert decisions[0]["release"]["id"] == "2026.1" and decisions[2]["release"]["current"]
    missing = []
    for key, model in CLIENT_READS.items():
        adapter: TypeAdapter[Any] = TypeAdapter(model)
        for body in answers[key]:
            adapter.validate_python(body)  # the client reads what the service sends
        for m in models_of(model):
            missing += [f"{m.__name__}.{f}" for f in unsent(m, answered_by(m, answers[key]))]
    assert not missing, f"hub client fields the service never sends: {missing}"
