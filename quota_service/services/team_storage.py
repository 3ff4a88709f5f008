"""Team folder storage: the scanner's figures per team and per file owner, and a consortium
pool's shared home quota.

A consortium pool's home quota is shared: what counts against it is the sum of its current
members' homes (each person's newest snapshot) plus its team folder (the newest team
snapshot). A member is not handed the whole pool quota for their own home. The figures a lead
sees split the team folder by file owner: a file's uid is mapped back to a person by the uid
rule (`teams.uid_base` + users.id, `TeamSettings.user_id_of`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from ..filesystem.scanner import RootUsage
from ..models.team_storage import MemberStorageView, TeamOwnerView, TeamStorageView
from ..schema import (
    Allocation,
    AllocationKind,
    Consortium,
    ConsortiumMember,
    StorageUsageSnapshot,
    User,
)
from ..schema.team_usage import TeamOwnerUsage, TeamUsageSnapshot
from ..store.snapshots import latest_snapshot_id
from . import ledger
from .base import ServiceContext


@dataclass(frozen=True)
class PoolStorage:
    """A pool's shared home quota and what counts against it."""

    consortium_id: int
    consortium: str
    homes_bytes: int
    team_bytes: int
    soft_bytes: int | None
    hard_bytes: int | None

    @property
    def total_bytes(self) -> int:
        return self.homes_bytes + self.team_bytes

    @property
    def over_soft(self) -> bool:
        return self.soft_bytes is not None and self.total_bytes > self.soft_bytes

    @property
    def over_hard(self) -> bool:
        return self.hard_bytes is not None and self.total_bytes > self.hard_bytes


@dataclass
class TeamScanRow:
    team_dir: str
    consortium_id: int | None
    bytes: int
    files: int
    owners: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class HomeStanding:
    """Where a person's home stands against every quota that covers it: each usable
    personal allocation's own quota, and the shared quota of each usable consortium pool."""

    home_bytes: int
    personal_hard: int | None
    # Usable sub-allocation id -> its pool's shared storage.
    pools: dict[int, PoolStorage]

    @property
    def over_everywhere(self) -> bool:
        """Over every quota that covers the home (clean-up mode whatever is charged); a home
        with no quota at all is over none."""
        if self.personal_hard is None and not self.pools:
            return False
        if self.personal_hard is not None and self.home_bytes <= self.personal_hard:
            return False
        return all(p.over_hard for p in self.pools.values())

    def pool_over_hard(self, allocation_id: int) -> PoolStorage | None:
        """The pool behind `allocation_id` when it is over its shared hard quota."""
        pool = self.pools.get(allocation_id)
        return pool if pool is not None and pool.over_hard else None


def gib(value: int) -> str:
    return f"{value / 1024**3:.1f} GiB"


class TeamStorageService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    # -- the scan ------------------------------------------------------------------------
    def record_scan(
        self, results: Mapping[str, RootUsage], measured_at: datetime
    ) -> list[TeamScanRow]:
        """One snapshot per measured team folder of a known consortium, with its bytes by
        owner; a folder no consortium names is reported with `consortium_id` None."""
        session = self.ctx.session
        by_dir = {
            c.team_dir: c
            for c in session.scalars(select(Consortium).where(Consortium.team_dir.is_not(None)))
        }
        known_users = self._known_user_ids(uid for r in results.values() for uid in r.bytes_by_uid)
        rows: list[TeamScanRow] = []
        for team_dir, usage in sorted(results.items()):
            consortium = by_dir.get(team_dir)
            row = TeamScanRow(
                team_dir=team_dir,
                consortium_id=consortium.id if consortium else None,
                bytes=usage.bytes_allocated,
                files=usage.files,
                owners=dict(usage.bytes_by_uid),
            )
            rows.append(row)
            if consortium is None or usage.error:
                continue
            snap = TeamUsageSnapshot(
                consortium_id=consortium.id,
                measured_at=measured_at,
                bytes=usage.bytes_allocated,
                files=usage.files,
                issues=usage.issues,
            )
            session.add(snap)
            session.flush()
            for uid, nbytes in usage.bytes_by_uid.items():
                user_id = self.ctx.teams.user_id_of(uid)
                session.add(
                    TeamOwnerUsage(
                        snapshot_id=snap.id,
                        uid=uid,
                        user_id=user_id if user_id in known_users else None,
                        bytes=nbytes,
                        files=usage.files_by_uid.get(uid, 0),
                    )
                )
        return rows

    def _known_user_ids(self, uids: Iterable[int]) -> set[int]:
        ids = {i for i in (self.ctx.teams.user_id_of(u) for u in uids) if i is not None}
        if not ids:
            return set()
        return set(self.ctx.session.scalars(select(User.id).where(User.id.in_(ids))))

    # -- reading -------------------------------------------------------------------------
    def latest(self, consortium_id: int) -> TeamUsageSnapshot | None:
        return self.ctx.session.scalars(
            select(TeamUsageSnapshot)
            .where(TeamUsageSnapshot.consortium_id == consortium_id)
            .order_by(TeamUsageSnapshot.measured_at.desc(), TeamUsageSnapshot.id.desc())
            .limit(1)
        ).first()

    def _member_homes(self, consortium_id: int) -> list[tuple[int, str, str, int]]:
        """(user id, username, role, newest home bytes) of each current member, by name."""
        rows = self.ctx.session.execute(
            select(User.id, User.username, ConsortiumMember.role, StorageUsageSnapshot.home_bytes)
            .join(ConsortiumMember, ConsortiumMember.user_id == User.id)
            .outerjoin(StorageUsageSnapshot, StorageUsageSnapshot.id == latest_snapshot_id(User.id))
            .where(ConsortiumMember.consortium_id == consortium_id)
            .order_by(User.username)
        ).all()
        return [(uid, name, role.value, int(home or 0)) for uid, name, role, home in rows]

    def pool_storage(self, consortium: Consortium, pool: Allocation | None = None) -> PoolStorage:
        if pool is None:
            pool = self.ctx.session.get(Allocation, consortium.pool_id)
        quota = ledger.home_quota_bytes(self.ctx.policy, pool) if pool is not None else None
        homes = sum(home for _i, _n, _r, home in self._member_homes(consortium.id))
        snap = self.latest(consortium.id)
        return PoolStorage(
            consortium_id=consortium.id,
            consortium=consortium.name,
            homes_bytes=homes,
            team_bytes=snap.bytes if snap else 0,
            soft_bytes=quota[0] if quota else None,
            hard_bytes=quota[1] if quota else None,
        )

    def pool_storage_of(self, allocation: Allocation) -> PoolStorage | None:
        """The shared storage of the pool behind a consortium sub-allocation (None for any
        other allocation)."""
        if allocation.kind != AllocationKind.sub or allocation.consortium_id is None:
            return None
        consortium = self.ctx.session.get(Consortium, allocation.consortium_id)
        if consortium is None:
            return None
        pool = self.ctx.session.get(Allocation, allocation.parent_id)
        return self.pool_storage(consortium, pool)

    def home_standing(self, usable: list[Allocation], home_bytes: int) -> HomeStanding:
        """`usable`: the person's usable allocations (personal and sub-allocations)."""
        personal: int | None = None
        pools: dict[int, PoolStorage] = {}
        for alloc in usable:
            if alloc.kind == AllocationKind.sub:
                pool = self.pool_storage_of(alloc)
                if pool is not None:
                    pools[alloc.id] = pool
                continue
            quota = ledger.home_quota_bytes(self.ctx.policy, alloc)
            if quota and (personal is None or quota[1] > personal):
                personal = quota[1]
        return HomeStanding(home_bytes=home_bytes, personal_hard=personal, pools=pools)

    def view(self, consortium: Consortium) -> TeamStorageView:
        """What a lead sees: the pool's shared quota, the team folder, and per member their
        home and their bytes in the team folder (by file owner)."""
        pool = self.pool_storage(consortium)
        snap = self.latest(consortium.id)
        owners: list[tuple[int, int | None, int, int]] = []
        if snap is not None:
            owners = [
                (o.uid, o.user_id, o.bytes, o.files)
                for o in self.ctx.session.scalars(
                    select(TeamOwnerUsage)
                    .where(TeamOwnerUsage.snapshot_id == snap.id)
                    .order_by(TeamOwnerUsage.uid)
                )
            ]
        by_user = {user_id: (nbytes, files) for _u, user_id, nbytes, files in owners if user_id}
        members = []
        member_ids = set()
        for user_id, username, role, home in self._member_homes(consortium.id):
            member_ids.add(user_id)
            team_bytes, team_files = by_user.get(user_id, (0, 0))
            members.append(
                MemberStorageView(
                    username=username,
                    role=role,
                    uid=self.ctx.teams.uid_of(user_id),
                    home_bytes=home,
                    team_bytes=team_bytes,
                    team_files=team_files,
                )
            )
        names: dict[int, str] = {
            user_id: username
            for user_id, username in self.ctx.session.execute(
                select(User.id, User.username).where(
                    User.id.in_([u for _x, u, _b, _f in owners if u is not None])
                )
            )
        }
        others = [
            TeamOwnerView(
                uid=uid,
                username=names.get(user_id) if user_id is not None else None,
                bytes=nbytes,
                files=files,
            )
            for uid, user_id, nbytes, files in owners
            if user_id is None or user_id not in member_ids
        ]
        return TeamStorageView(
            team_dir=consortium.team_dir,
            measured_at=snap.measured_at if snap else None,
            team_bytes=pool.team_bytes,
            team_files=snap.files if snap else 0,
            homes_bytes=pool.homes_bytes,
            total_bytes=pool.total_bytes,
            soft_quota_bytes=pool.soft_bytes,
            hard_quota_bytes=pool.hard_bytes,
            over_soft=pool.over_soft,
            over_hard=pool.over_hard,
            members=members,
            other_owners=others,
        )


def pool_cleanup_notice(pool: PoolStorage) -> str:
    hard = gib(pool.hard_bytes) if pool.hard_bytes is not None else "its hard quota"
    return (
        f"Consortium {pool.consortium} stores {gib(pool.total_bytes)} (members' homes "
        f"{gib(pool.homes_bytes)} + team folder {gib(pool.team_bytes)}), over its shared hard "
        f"quota of {hard}. This server starts in clean-up mode (smallest size): delete or "
        "move files in your home or the team folder to get the team back under quota."
    )
