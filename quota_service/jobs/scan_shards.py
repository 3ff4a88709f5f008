"""A sharded scan's bookkeeping: each shard's rows are written once, the run combines once.

A shard writes its snapshots and its `ScanShard` row in one transaction. When that row exists
already (the pod was retried, or someone reran the shard), the snapshots the earlier attempt
wrote are deleted first (they carry the earlier row's `measured_at`, and belong to users and
team folders of this shard), so a rerun replaces and never doubles.

After its commit, a shard counts the shards of its run; the one that sees all of them inserts
the `ScanRun` row (unique run_id: exactly once, even when two shards finish together) and its
audit record. `nexus-quota scan --combine` does the same from outside.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from hub_config.userdirs import directory_name

from ..filesystem.shards import Shard
from ..schema import Consortium, StorageUsageSnapshot, User
from ..schema.scan_run import ScanRun, ScanShard
from ..schema.team_usage import TeamOwnerUsage, TeamUsageSnapshot

if TYPE_CHECKING:
    from ..factory import Factory, Services


@dataclass(frozen=True)
class Combined:
    run_id: str
    shard_count: int
    shards_done: int
    # True only for the one call that inserted the run's completion row.
    completed_now: bool
    complete: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "shard_count": self.shard_count,
            "shards_done": self.shards_done,
            "complete": self.complete,
            "completed_now": self.completed_now,
        }


def forget_earlier_attempt(svc: Services, run_id: str, shard: Shard) -> ScanShard | None:
    """Delete what an earlier attempt of this shard wrote; return its row (None: first attempt)."""
    session = svc.ctx.session
    prev = session.scalar(
        select(ScanShard).where(ScanShard.run_id == run_id, ScanShard.shard_index == shard.index)
    )
    if prev is None:
        return None
    user_ids = [
        uid
        for uid, name in session.execute(select(User.id, User.username))
        if shard.holds(directory_name(name))
    ]
    if user_ids:
        session.execute(
            delete(StorageUsageSnapshot).where(
                StorageUsageSnapshot.measured_at == prev.measured_at,
                StorageUsageSnapshot.user_id.in_(user_ids),
            )
        )
    team_ids = [
        cid
        for cid, team_dir in session.execute(
            select(Consortium.id, Consortium.team_dir).where(Consortium.team_dir.is_not(None))
        )
        if team_dir is not None and shard.holds(team_dir)
    ]
    if team_ids:
        snaps = select(TeamUsageSnapshot.id).where(
            TeamUsageSnapshot.measured_at == prev.measured_at,
            TeamUsageSnapshot.consortium_id.in_(team_ids),
        )
        session.execute(delete(TeamOwnerUsage).where(TeamOwnerUsage.snapshot_id.in_(snaps)))
        session.execute(
            delete(TeamUsageSnapshot).where(
                TeamUsageSnapshot.measured_at == prev.measured_at,
                TeamUsageSnapshot.consortium_id.in_(team_ids),
            )
        )
    return prev


def record_shard(
    svc: Services,
    prev: ScanShard | None,
    run_id: str,
    shard: Shard,
    *,
    measured_at: datetime,
    users: int,
    teams: int,
    errors: int,
) -> None:
    now = svc.ctx.now()
    if prev is None:
        svc.ctx.session.add(
            ScanShard(
                run_id=run_id,
                shard_index=shard.index,
                shard_count=shard.count,
                measured_at=measured_at,
                finished_at=now,
                users=users,
                teams=teams,
                errors=errors,
                attempts=1,
            )
        )
        return
    prev.shard_count = shard.count
    prev.measured_at = measured_at
    prev.finished_at = now
    prev.users, prev.teams, prev.errors = users, teams, errors
    prev.attempts += 1


def combine(
    factory: Factory, run_id: str, shard_count: int, *, actor: str = "job:scan", audit: bool = True
) -> Combined:
    """Mark the run complete when all its shards are recorded; exactly once per run."""
    with factory.unit_of_work() as svc:
        session = svc.ctx.session
        done = session.scalar(
            select(func.count())
            .select_from(ScanShard)
            .where(ScanShard.run_id == run_id, ScanShard.shard_count == shard_count)
        )
        shards_done = int(done or 0)
        existing = session.scalar(select(ScanRun.id).where(ScanRun.run_id == run_id))
        if existing is not None or shards_done < shard_count:
            return Combined(run_id, shard_count, shards_done, False, existing is not None)
        totals = session.execute(
            select(
                func.sum(ScanShard.users), func.sum(ScanShard.teams), func.sum(ScanShard.errors)
            ).where(ScanShard.run_id == run_id)
        ).one()
        users, teams, errors = (int(v or 0) for v in totals)
        try:
            with session.begin_nested():
                session.add(
                    ScanRun(
                        run_id=run_id,
                        shard_count=shard_count,
                        completed_at=svc.ctx.now(),
                        users=users,
                        teams=teams,
                        errors=errors,
                    )
                )
        except IntegrityError:
            return Combined(run_id, shard_count, shards_done, False, True)
        if not audit:
            return Combined(run_id, shard_count, shards_done, True, True)
        svc.audit.record(
            actor=actor,
            action="storage.scan",
            target_type="storage",
            target_id=run_id,
            after={"shards": shard_count, "users": users, "teams": teams, "errors": errors},
        )
    return Combined(run_id, shard_count, shards_done, True, True)
