"""Issue 16 item 5: environment releases in the policy, offered, chosen and recorded."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from alembic import command
from sqlalchemy import inspect, select

from quota_service import db
from quota_service.errors import InvalidInput
from quota_service.factory import Factory
from quota_service.models.v1 import SpawnAllowed, SpawnDenied
from quota_service.policy import PolicyError, default_policy_text, load_policy, parse_policy
from quota_service.schema import ServerSession
from tests.support.databases import DatabaseFactory
from tests.support.quota import QuotaStack

REPO = Path(__file__).resolve().parents[2]


def _document() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(default_policy_text())
    return data


def _with_releases(releases: list[dict[str, Any]]) -> dict[str, Any]:
    doc = _document()
    doc["releases"] = releases
    return doc


def _release(rid: str, *, current: bool = False, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": rid,
        "display_name": f"Nexus {rid}",
        "image": {"name": "ghcr.io/roman-research-nexus/user", "tag": rid},
        "kernel_locks": ["kernels/roman-research-nexus/requirements.txt"],
        "current": current,
    }
    base.update(kw)
    return base


def test_the_default_policy_offers_the_current_release_then_the_previous() -> None:
    policy = load_policy()
    offered = policy.offered_releases()
    assert [(r.id, r.current) for r in offered] == [("2026.2", True), ("2026.1", False)]
    assert offered[0].image.reference == "ghcr.io/roman-research-nexus/user:0.1.0"
    # Every lock a release names is a file of this repository.
    for release in offered:
        for lock in release.kernel_locks:
            assert (REPO / lock).is_file(), lock


@pytest.mark.parametrize(
    ("releases", "message"),
    [
        ([_release("a"), _release("b")], r"exactly one release must be current.*found 0"),
        (
            [_release("a", current=True), _release("b", current=True)],
            r"exactly one release must be current.*found 2 \(a, b\)",
        ),
        ([_release("a", current=True), _release("a")], r"ids must be unique; repeated: a"),
        ([_release("a", current=True, display_name="<b>Nexus</b>")], r"display_name"),
        ([_release("a b", current=True)], r"releases\.0\.id"),
        ([_release("a", current=True, kernel_locks=[])], r"kernel_locks"),
        ([_release("a", current=True, image={"name": "x"})], r"image\.tag"),
    ],
    ids=["none-current", "two-current", "duplicate", "markup", "bad-id", "no-locks", "no-tag"],
)
def test_bad_releases_are_refused_with_a_message(
    releases: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy(_with_releases(releases), "test")


def test_a_policy_without_releases_offers_no_choice() -> None:
    doc = _document()
    del doc["releases"]
    policy = parse_policy(doc)
    assert policy.current_release is None and policy.offered_releases() == []


def _allowed(decision: SpawnAllowed | SpawnDenied) -> SpawnAllowed:
    assert isinstance(decision, SpawnAllowed), decision
    return decision


@pytest.mark.integration
def test_the_chosen_release_is_answered_and_recorded_on_the_session(factory: Factory) -> None:
    with factory.unit_of_work() as svc:
        ent = svc.spawn.entitlements("alice")
        assert [(r.id, r.current) for r in ent.releases] == [("2026.2", True), ("2026.1", False)]
        previous = _allowed(svc.spawn.decide("alice", "", "small", release_id="2026.1"))
        default = _allowed(svc.spawn.decide("bob", "", "small"))
    assert previous.release is not None and previous.release.id == "2026.1"
    assert previous.release.image == "ghcr.io/roman-research-nexus/user:0.0.9"
    assert default.release is not None and default.release.id == "2026.2"
    with factory.unit_of_work() as svc:
        found = svc.ctx.session.execute(
            select(ServerSession.id, ServerSession.release).where(
                ServerSession.id.in_([previous.session_id, default.session_id])
            )
        ).all()
        rows = {sid: release for sid, release in found}
        listed = {s.id: s.release for s in svc.spawn.open_sessions()}
    assert rows == {previous.session_id: "2026.1", default.session_id: "2026.2"}
    assert listed[previous.session_id] == "2026.1"


@pytest.mark.integration
def test_an_unknown_release_is_invalid_input_and_opens_nothing(factory: Factory) -> None:
    with pytest.raises(InvalidInput, match=r"unknown environment release '2019\.1'.*2026\.2"):
        with factory.unit_of_work() as svc:
            svc.spawn.decide("carol", "", "small", release_id="2019.1")
    with factory.unit_of_work() as svc:
        assert svc.spawn.open_sessions() == []


@pytest.mark.integration
def test_the_api_refuses_an_unknown_release_with_422_and_lists_sessions_with_theirs(
    stack: QuotaStack,
) -> None:
    user = f"rel-{uuid.uuid4().hex[:8]}"
    with stack.api(stack.hook_token) as hook:
        for bad in ("2019.1", "<script>", "x" * 64):
            resp = hook.post(
                "hub/spawn-decisions", json={"username": user, "size": "small", "release": bad}
            )
            assert resp.status_code == 422, resp.text
            assert resp.json()["code"] == "unknown_release"
        # Longer than any id: refused by the request model, still a 4xx.
        long = hook.post(
            "hub/spawn-decisions", json={"username": user, "size": "small", "release": "y" * 65}
        )
        assert long.status_code == 422
        ok = hook.post(
            "hub/spawn-decisions", json={"username": user, "size": "small", "release": "2026.1"}
        ).json()
        assert ok["allowed"] is True and ok["release"]["id"] == "2026.1"
        sessions = {s["id"]: s for s in hook.get("hub/sessions").json()}
        assert sessions[ok["session_id"]]["release"] == "2026.1"
        hook.post("hub/sessions/stop", json={"username": user})


@pytest.mark.integration
def test_the_release_migration_goes_up_and_down(databases: DatabaseFactory, backend: str) -> None:
    url = databases.empty(backend)
    db.upgrade(url, "20261207_01_session_release")

    def columns() -> set[str]:
        engine = db.make_engine(url)
        try:
            return {c["name"] for c in inspect(engine).get_columns("server_sessions")}
        finally:
            engine.dispose()

    assert "release" in columns()
    command.downgrade(db.alembic_config(url), "20261123_01_manifest_digest")
    assert "release" not in columns()
    db.upgrade(url)
    db.check(url)
    assert "release" in columns()
