"""Teams in the quota service: each consortium's team_dir and gid, the person's uid, and the
teams every spawn decision carries (issue 17 part 2), on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from quota_service import db
from quota_service.config import Settings
from quota_service.errors import Conflict
from quota_service.factory import Factory
from quota_service.models.v1 import SpawnAllowed, SpawnDenied
from quota_service.schema import AuditEvent, Consortium, User
from quota_service.services.base import Actor
from tests.support.clock import FakeClock
from tests.support.databases import DatabaseFactory

pytestmark = pytest.mark.integration

ADMIN = Actor("root", is_admin=True)


def allowed(decision: SpawnAllowed | SpawnDenied) -> SpawnAllowed:
    assert isinstance(decision, SpawnAllowed), decision
    return decision


def create(factory: Factory, name: str, leads: list[str]) -> int:
    with factory.unit_of_work() as svc:
        view = svc.consortia.create(
            "root",
            name=name,
            proposal_ref=None,
            cpu_hours=1000,
            home_quota_soft_gib=100,
            home_quota_hard_gib=120,
            term_days=365,
            leads=leads,
            reason="panel",
        )
    return view.id


def entry_allocation(factory: Factory, username: str) -> int:
    with factory.unit_of_work() as svc:
        ent = svc.spawn.entitlements(username)
    return next(a.id for a in ent.allocations if a.tier == "entry")


def decide(
    factory: Factory, username: str, server: str = "", alloc: int | None = None
) -> SpawnAllowed | SpawnDenied:
    with factory.unit_of_work() as svc:
        return svc.spawn.decide(username, server, "small", alloc)


def stored(factory: Factory, consortium_id: int) -> tuple[str | None, int | None]:
    with factory.unit_of_work() as svc:
        row = svc.ctx.session.get(Consortium, consortium_id)
        assert row is not None
        return row.team_dir, row.gid


def user_id(factory: Factory, username: str) -> int:
    with factory.unit_of_work() as svc:
        found = svc.ctx.session.scalar(sa.select(User.id).where(User.username == username))
    assert found is not None
    return found


def test_a_consortium_gets_its_team_dir_and_gid_once(factory: Factory) -> None:
    first = create(factory, "Galaxy Evolution", ["gail"])
    second = create(factory, "wfi-cal", ["wes"])
    dir1, gid1 = stored(factory, first)
    assert dir1 is not None and dir1.startswith("galaxy-evolution-") and len(dir1) == 25
    assert gid1 == 60000 + first
    assert stored(factory, second) == ("wfi-cal", 60000 + second)
    with factory.unit_of_work() as svc:
        after = svc.ctx.session.scalar(
            sa.select(AuditEvent.after).where(
                AuditEvent.action == "consortium.create", AuditEvent.target_id == str(first)
            )
        )
    assert after is not None and (after["team_dir"], after["gid"]) == (dir1, gid1)


def test_the_decision_carries_the_uid_and_every_team(factory: Factory) -> None:
    a = create(factory, "Team A", ["alice"])
    b = create(factory, "Team B", ["bella"])
    with factory.unit_of_work() as svc:
        svc.consortia.add_member(Actor("bella"), b, "alice", "member", 10)
    # Charged to her Entry allocation: both teams still come with the server.
    ok = allowed(decide(factory, "alice", "", entry_allocation(factory, "alice")))
    assert ok.uid == 200000 + user_id(factory, "alice")
    assert [(t.name, t.team_dir, t.gid) for t in ok.teams] == [
        ("Team A", stored(factory, a)[0], 60000 + a),
        ("Team B", stored(factory, b)[0], 60000 + b),
    ]
    # Someone in no team gets a uid and no teams.
    nobody = allowed(decide(factory, "nora"))
    assert nobody.uid == 200000 + user_id(factory, "nora") and nobody.teams == []


def test_joining_and_leaving_change_the_next_decision_only(factory: Factory) -> None:
    team = create(factory, "Team J", ["lead"])
    entry = entry_allocation(factory, "jo")
    assert allowed(decide(factory, "jo", "", entry)).teams == []
    with factory.unit_of_work() as svc:
        svc.consortia.add_member(Actor("lead"), team, "jo", "member", 5)
    joined = allowed(decide(factory, "jo", "", entry))
    assert [t.gid for t in joined.teams] == [60000 + team]
    with factory.unit_of_work() as svc:
        svc.consortia.remove_member(Actor("lead"), team, "jo")
    assert allowed(decide(factory, "jo", "", entry)).teams == []
    # The team keeps its folder name and gid.
    assert stored(factory, team)[1] == 60000 + team


def test_no_forged_server_name_or_allocation_gives_another_teams_folder(factory: Factory) -> None:
    team = create(factory, "Secret Team", ["sam"])
    with factory.unit_of_work() as svc:
        pool_id = svc.consortia.view(ADMIN, team).pool.id
        sam_sub = next(
            a.id for a in svc.spawn.entitlements("sam").allocations if a.tier == "consortium"
        )
    team_dir = stored(factory, team)[0]
    assert team_dir is not None
    for server in ("", team_dir, f"../{team_dir}", "Secret Team", "sam"):
        decision = decide(factory, "mallory", server)
        assert isinstance(decision, SpawnAllowed) and decision.teams == [], server
        with factory.unit_of_work() as svc:
            svc.spawn.stop("mallory", server)
    # Charging the team's pool or a member's sub-allocation is refused outright.
    for alloc in (pool_id, sam_sub):
        refused = decide(factory, "mallory", "", alloc)
        assert isinstance(refused, SpawnDenied) and refused.code == "not_your_allocation"


def test_settings_move_the_uid_and_gid_ranges(databases: DatabaseFactory, backend: str) -> None:
    settings = Settings(
        database_url=databases.new(backend), teams={"uid_base": 300000, "gid_base": 70000}
    )
    factory = Factory(settings, clock=FakeClock())
    try:
        team = create(factory, "Range", ["rae"])
        ok = allowed(decide(factory, "rae", "", entry_allocation(factory, "rae")))
        assert ok.uid == 300000 + user_id(factory, "rae")
        assert [t.gid for t in ok.teams] == [70000 + team]
    finally:
        factory.dispose()


def test_a_lowered_gid_base_never_hands_out_a_gid_twice(
    databases: DatabaseFactory, backend: str
) -> None:
    url = databases.new(backend)
    first = Factory(Settings(database_url=url), clock=FakeClock())
    try:
        team = create(first, "Old Team", ["ola"])
    finally:
        first.dispose()
    assert stored_in(Settings(database_url=url), team)[1] == 60000 + team
    lowered = Factory(Settings(database_url=url, teams={"gid_base": 59999}), clock=FakeClock())
    try:
        with pytest.raises(Conflict, match="gid_base was lowered") as refused:
            create(lowered, "New Team", ["nia"])
        assert refused.value.code == "gid_taken"
        with lowered.unit_of_work() as svc:
            names = svc.ctx.session.scalars(sa.select(Consortium.name)).all()
        assert names == ["Old Team"]  # nothing of the refused one is left
    finally:
        lowered.dispose()


def test_creating_a_consortium_makes_its_folder(
    databases: DatabaseFactory, backend: str, tmp_path: Path
) -> None:
    root = tmp_path / "teams"
    root.mkdir()
    settings = Settings(database_url=databases.new(backend), teams={"root": str(root)})
    factory = Factory(settings, clock=FakeClock())
    try:
        team = create(factory, "Made Here", ["mo"])
    finally:
        factory.dispose()
    team_dir, gid = stored_in(settings, team)
    st = os.lstat(root / team_dir)
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o3770
    assert (st.st_uid, st.st_gid) == (0, gid)


def test_a_missing_root_does_not_stop_the_creation(
    databases: DatabaseFactory, backend: str, tmp_path: Path
) -> None:
    # Its parent is missing too: a mount that is not there (the chart's quota Deployment).
    settings = Settings(
        database_url=databases.new(backend), teams={"root": str(tmp_path / "absent" / "teams")}
    )
    factory = Factory(settings, clock=FakeClock())
    try:
        team = create(factory, "Later", ["lu"])
    finally:
        factory.dispose()
    assert stored_in(settings, team)[1] == 60000 + team
    assert not (tmp_path / "absent").exists()


def test_a_fresh_state_folder_gets_its_teams_root(
    databases: DatabaseFactory, backend: str, tmp_path: Path
) -> None:
    """make dev: `<state>/teams` is made with the first team, readable by every member."""
    settings = Settings(database_url=databases.new(backend), teams={"root": str(tmp_path / "t")})
    factory = Factory(settings, clock=FakeClock())
    try:
        team = create(factory, "First", ["fi"])
    finally:
        factory.dispose()
    assert stat.S_IMODE(os.lstat(tmp_path / "t").st_mode) == 0o755
    team_dir, gid = stored_in(settings, team)
    assert os.lstat(tmp_path / "t" / team_dir).st_gid == gid


def stored_in(settings: Settings, consortium_id: int) -> tuple[str, int]:
    factory = Factory(settings)
    try:
        team_dir, gid = stored(factory, consortium_id)
    finally:
        factory.dispose()
    assert team_dir is not None and gid is not None
    return team_dir, gid


def test_the_migration_backfills_existing_consortia(
    databases: DatabaseFactory, backend: str
) -> None:
    url = databases.empty(backend)
    db.upgrade(url, "20261207_01_session_release")
    engine = db.make_engine(url)
    names = ["Team A", "team-a", "Ünïcode Survey", "../x"]
    with engine.begin() as conn:
        for i, name in enumerate(names, start=1):
            conn.execute(
                sa.text(
                    "INSERT INTO consortia (id, name, proposal_ref, pool_id, created_at) "
                    "VALUES (:id, :name, NULL, NULL, :now)"
                ),
                {"id": i * 10, "name": name, "now": "2026-12-01 00:00:00"},
            )
    db.upgrade(url)
    db.check(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, team_dir, gid FROM consortia ORDER BY id")).all()
    engine.dispose()
    assert [r[2] for r in rows] == [60010, 60020, 60030, 60040]
    dirs = [r[1] for r in rows]
    assert dirs[1] == "team-a" and dirs[0].startswith("team-a-") and len(set(dirs)) == 4
    assert dirs[2].startswith("unicode-survey-") and dirs[3].startswith("x-")
