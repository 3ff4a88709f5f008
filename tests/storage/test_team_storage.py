"""Team folder storage on real files with real owners (os.chown), on SQLite and PostgreSQL:
the scanner's team snapshot and bytes per file owner, the pool's shared home quota (members'
homes + the team folder), the clean-up mode it brings at spawn, and what leads see."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from quota_service.config import Settings, TeamSettings
from quota_service.errors import PermissionDenied
from quota_service.factory import Factory
from quota_service.jobs.purge_common import StorageConfig
from quota_service.jobs.scan import StorageService
from quota_service.models.v1 import SpawnAllowed
from quota_service.policy import GIB
from quota_service.services.base import Actor
from tests.support.clock import FakeClock

from .trees import Layout, layout, put

pytestmark = pytest.mark.integration

ADMIN = Actor("admin", is_admin=True)
BLOCK = 4096  # ext4's allocation unit here: every figure below is a multiple of it
UNKNOWN_UID = 12345  # below teams.uid_base: nobody's


def du_bytes(root: Path) -> int:
    out = subprocess.run(
        ["du", "-s", "-x", "-B1", os.fspath(root)], capture_output=True, check=True
    )
    return int(out.stdout.split()[0])


def owned(path: Path, uid: int, gid: int, data: bytes | None = None) -> Path:
    """A real file (or, with `data` None, a directory) owned by uid:gid."""
    if data is None:
        path.mkdir(parents=True, exist_ok=True)
    else:
        put(path, data)
    os.chown(path, uid, gid, follow_symlinks=False)
    return path


@dataclass
class Team:
    factory: Factory
    clock: FakeClock
    lay: Layout
    storage: StorageService
    cid: int
    folder: Path
    gid: int
    uid: dict[str, int]
    sub: dict[str, int]  # username -> their sub-allocation id
    entry: dict[str, int]  # username -> their Entry allocation id


@pytest.fixture
def team(tmp_path: Path, db_url: str) -> Iterator[Team]:
    lay = layout(tmp_path / "efs", ["alice", "bob"])
    teams_root = tmp_path / "efs" / "teams"
    teams_root.mkdir()
    clock = FakeClock()
    settings = Settings(
        database_url=db_url,
        storage_root=lay.homes,
        scratch_root=lay.scratch,
        teams=TeamSettings(root=teams_root),
    )
    factory = Factory(settings, clock=clock)
    try:
        with factory.unit_of_work() as svc:
            # Shared pool quota: ~307 KiB soft, ~419 KiB hard for everyone's homes + the folder.
            view = svc.consortia.create(
                "admin",
                name="lab-a",
                proposal_ref=None,
                cpu_hours=1000,
                home_quota_soft_gib=0.0003,
                home_quota_hard_gib=0.0004,
                term_days=365,
                leads=["alice"],
                reason="test",
            )
            svc.consortia.add_member(ADMIN, view.id, "bob", "member", 100)
            carol = svc.users.ensure("carol")  # a person, never a member
            people = {u: svc.users.get(u) for u in ("alice", "bob")}
            uid = {u: svc.teams.uid_of(p) for u, p in people.items()}
            uid["carol"] = svc.teams.uid_of(carol)
            sub = {
                m.username: int(m.sub_allocation_id or 0)
                for m in svc.consortia._view(svc.consortia._get(view.id)).members
            }
            entry = {
                u: next(a.id for a in svc.users.allocations(p) if a.tier == "entry")
                for u, p in people.items()
            }
            consortium = svc.consortia._get(view.id)
            team_dir, gid = svc.teams.identity(consortium)
        folder = teams_root / team_dir
        assert folder.is_dir(), "the consortium's creation made its team folder"
        assert (os.stat(folder).st_gid, os.stat(folder).st_mode & 0o7777) == (gid, 0o3770)
        # Homes: alice 4 KiB + 80 KiB, bob 4 KiB + 40 KiB (the directory's own block counts).
        put(lay.home("alice") / "a.bin", b"a" * 81920)
        put(lay.home("bob") / "b.bin", b"b" * 40960)
        yield Team(
            factory,
            clock,
            lay,
            StorageService(factory, StorageConfig.from_settings(settings, tmp_path / "state")),
            view.id,
            folder,
            gid,
            uid,
            sub,
            entry,
        )
    finally:
        factory.dispose()


def fill(t: Team) -> None:
    """alice: a directory (4 KiB) with 120 KiB in it; bob: 200 KiB, hard-linked twice (counted
    once); carol (not a member): 40 KiB; an unknown uid: 4 KiB."""
    owned(t.folder / "alice-data", t.uid["alice"], t.gid)
    owned(t.folder / "alice-data" / "a1.bin", t.uid["alice"], t.gid, b"1" * 122880)
    owned(t.folder / "b.bin", t.uid["bob"], t.gid, b"2" * 204800)
    os.link(t.folder / "b.bin", t.folder / "b-again.bin")
    owned(t.folder / "c.bin", t.uid["carol"], t.gid, b"3" * 40960)
    owned(t.folder / "x.bin", UNKNOWN_UID, t.gid, b"4" * 100)


HOMES = (BLOCK + 81920) + (BLOCK + 40960)  # 131,072
TEAM_FILLED = BLOCK + (BLOCK + 122880) + 204800 + 40960 + BLOCK  # 380,928


def decide(t: Team, username: str, allocation_id: int, size: str = "large") -> SpawnAllowed:
    with t.factory.unit_of_work() as svc:
        out = svc.spawn.decide(username, size, size, allocation_id=allocation_id)
    assert isinstance(out, SpawnAllowed), out
    return out


def test_scan_measures_the_team_folder_by_file_owner(team: Team) -> None:
    t = team
    fill(t)
    report = t.storage.scan(workers=2)  # worker processes: the owners' figures come back whole
    assert report.errors == []
    assert [(r.team_dir, r.consortium_id, r.bytes) for r in report.teams] == [
        (t.folder.name, t.cid, TEAM_FILLED)
    ]
    assert TEAM_FILLED == 380_928 == du_bytes(t.folder)
    assert report.teams[0].owners == {
        0: BLOCK,  # the folder itself (root:<gid>)
        UNKNOWN_UID: BLOCK,
        t.uid["alice"]: BLOCK + 122880,
        t.uid["bob"]: 204800,
        t.uid["carol"]: 40960,
    }
    assert sum(report.teams[0].owners.values()) == TEAM_FILLED
    # Team folders are nobody's home: no person's snapshot holds them.
    assert {u.user: u.home_bytes for u in report.users} == {
        "alice": BLOCK + 81920,
        "bob": BLOCK + 40960,
    }
    with t.factory.unit_of_work() as svc:
        st = svc.consortia.view(ADMIN, t.cid).storage
    assert st is not None
    assert (st.team_bytes, st.team_files, st.homes_bytes) == (TEAM_FILLED, 5, HOMES)
    assert st.total_bytes == HOMES + TEAM_FILLED == 512_000
    assert (st.soft_quota_bytes, st.hard_quota_bytes) == (int(0.0003 * GIB), int(0.0004 * GIB))
    assert st.over_soft and st.over_hard
    members = {
        m.username: (m.role, m.uid, m.home_bytes, m.team_bytes, m.team_files) for m in st.members
    }
    assert members == {
        "alice": ("lead", t.uid["alice"], BLOCK + 81920, BLOCK + 122880, 1),
        "bob": ("member", t.uid["bob"], BLOCK + 40960, 204800, 2),
    }
    others = {(o.uid, o.username, o.bytes, o.files) for o in st.other_owners}
    assert others == {
        (0, None, BLOCK, 0),
        (UNKNOWN_UID, None, BLOCK, 1),
        (t.uid["carol"], "carol", 40960, 1),
    }


def test_a_symlink_in_the_teams_root_is_never_a_team(team: Team, tmp_path: Path) -> None:
    t = team
    elsewhere = tmp_path / "elsewhere"
    put(elsewhere / "big.bin", b"z" * 409600)
    os.symlink(elsewhere, t.folder.parent / "lab-b")
    os.symlink(elsewhere, t.folder / "link-out")
    report = t.storage.scan(workers=1)
    # The link itself is counted (a long target takes a block), never what it points at.
    link = os.lstat(t.folder / "link-out").st_blocks * 512
    assert [(r.team_dir, r.bytes) for r in report.teams] == [(t.folder.name, BLOCK + link)]
    assert BLOCK + link == du_bytes(t.folder) < 409600


def test_the_pool_quota_is_shared_by_homes_and_the_team_folder(team: Team) -> None:
    t = team
    # Homes alone (128 KiB) and an empty folder (4 KiB): well under the pool's hard quota, so
    # bob starts the large server he asked for, charged to the consortium.
    t.storage.scan(workers=1)
    allowed = decide(t, "bob", t.sub["bob"])
    assert (allowed.cleanup_mode, allowed.size.name) == (False, "large")

    # The team folder fills: 500 KiB stored against a ~419 KiB hard quota that bob's own
    # 44 KiB home is far from. A whole pool quota handed to bob would let him in; shared,
    # his server on the pool starts in clean-up mode, at the smallest size, saying why.
    fill(t)
    t.clock.advance(hours=1)
    t.storage.scan(workers=1)
    cleanup = decide(t, "bob", t.sub["bob"])
    assert (cleanup.cleanup_mode, cleanup.size.name) == (True, "small")
    assert cleanup.notice is not None
    assert "shared hard quota" in cleanup.notice and "team folder" in cleanup.notice
    # Charged to his own Entry allocation, his home is within Entry's quota: a normal start.
    own = decide(t, "bob", t.entry["bob"], "medium")
    assert own.cleanup_mode is False
    with t.factory.unit_of_work() as svc:
        ent = svc.spawn.entitlements("bob")
    assert ent.cleanup_mode is False
    assert any("shared hard quota" in n for n in ent.notices)

    # Members delete files in the team folder: the next scan lifts clean-up mode.
    for name in ("b.bin", "b-again.bin", "c.bin"):
        (t.folder / name).unlink()
    t.clock.advance(hours=1)
    t.storage.scan(workers=1)
    with t.factory.unit_of_work() as svc:
        st = svc.consortia.view(ADMIN, t.cid).storage
    assert st is not None and st.total_bytes == HOMES + TEAM_FILLED - 204800 - 40960
    assert not st.over_hard
    assert decide(t, "bob", t.sub["bob"]).cleanup_mode is False


def test_leads_see_their_consortium_only(team: Team) -> None:
    t = team
    with t.factory.unit_of_work() as svc:
        other = svc.consortia.create(
            "admin",
            name="lab-b",
            proposal_ref=None,
            cpu_hours=10,
            home_quota_soft_gib=1,
            home_quota_hard_gib=2,
            term_days=30,
            leads=["carol"],
            reason="test",
        )
        assert svc.consortia.view(Actor("alice"), t.cid).storage is not None
        with pytest.raises(PermissionDenied):
            svc.consortia.view(Actor("alice"), other.id)
        with pytest.raises(PermissionDenied):
            svc.consortia.view(Actor("bob"), t.cid)  # a member, not a lead
