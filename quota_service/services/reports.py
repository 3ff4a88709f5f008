"""Usage reports: CPU-hours and estimated cost by tier and by allocation; the storage
figures /metrics exports (from the scanner's latest snapshot of each person)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, String, case, func, or_, select

from ..models.v1 import UsagePoint, UsageReport, UsageReportRow, UsageView
from ..schema import (
    USABLE_STATUSES,
    Allocation,
    AllocationStatus,
    AuditEvent,
    Charge,
    StorageUsageSnapshot,
    User,
)
from ..schema.purge_manifest import PurgeManifest
from ..store.snapshots import latest_snapshot_id
from . import ledger
from .base import ServiceContext
from .users import CHARGEABLE_KINDS, UserService


@dataclass(frozen=True)
class TierStorage:
    """Totals over the people whose highest usable allocation is `tier`."""

    tier: str
    users: int
    home_bytes: int
    home_files: int
    scratch_bytes: int
    scratch_files: int
    over_soft: int
    over_hard: int


@dataclass(frozen=True)
class StorageSummary:
    by_tier: list[TierStorage] = field(default_factory=list)
    last_scan_at: datetime | None = None
    last_scan_errors: int | None = None
    # (status, area) -> (manifests, bytes)
    manifests: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)


class ReportService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def usage(self, since: datetime | None = None, until: datetime | None = None) -> UsageReport:
        price = self.ctx.cost_per_cpu_hour_usd

        conditions = []
        if since is not None:
            conditions.append(Charge.charged_at >= since)
        if until is not None:
            conditions.append(Charge.charged_at < until)
        by_tier = self.ctx.session.execute(
            select(
                Charge.tier,
                func.sum(Charge.cpu_hours),
                func.count(func.distinct(Charge.session_id)),
            )
            .where(*conditions)
            .group_by(Charge.tier)
            .order_by(Charge.tier)
        ).all()
        by_alloc = self.ctx.session.execute(
            select(
                Allocation.label,
                Allocation.id,
                func.sum(Charge.cpu_hours),
                func.count(func.distinct(Charge.session_id)),
            )
            .join(Allocation, Allocation.id == Charge.allocation_id)
            .where(*conditions)
            .group_by(Allocation.id, Allocation.label)
            .order_by(func.sum(Charge.cpu_hours).desc())
            .limit(500)
        ).all()
        return UsageReport(
            since=since,
            until=until,
            cost_per_cpu_hour_usd=price,
            by_tier=[
                UsageReportRow(
                    key=tier,
                    cpu_hours=round(hours or 0.0, 6),
                    estimated_cost_usd=round((hours or 0.0) * price, 2),
                    sessions=int(n),
                )
                for tier, hours, n in by_tier
            ],
            by_allocation=[
                UsageReportRow(
                    key=f"{label} [#{alloc_id}]",
                    cpu_hours=round(hours or 0.0, 6),
                    estimated_cost_usd=round((hours or 0.0) * price, 2),
                    sessions=int(n),
                )
                for label, alloc_id, hours, n in by_alloc
            ],
        )

    def user_usage(self, username: str) -> UsageView:
        user = UserService(self.ctx).ensure(username)
        day = func.substr(func.cast(Charge.charged_at, String()), 1, 10)
        rows = self.ctx.session.execute(
            select(day, func.sum(Charge.cpu_hours))
            .where(Charge.user_id == user.id)
            .group_by(day)
            .order_by(day)
        ).all()
        by_alloc = self.ctx.session.execute(
            select(Charge.allocation_id, func.sum(Charge.cpu_hours))
            .where(Charge.user_id == user.id)
            .group_by(Charge.allocation_id)
        ).all()
        return UsageView(
            username=username,
            by_day=[UsagePoint(day=str(d), cpu_hours=round(h or 0.0, 6)) for d, h in rows],
            by_allocation={int(a): round(h or 0.0, 6) for a, h in by_alloc},
        )

    def storage_summary(self) -> StorageSummary:
        """Storage by tier from each person's newest snapshot (one index probe per person,
        not a pass over every scan ever stored), purge manifests by status, last scan."""
        session = self.ctx.session
        now = self.ctx.now()
        ranks = ledger.TIER_RANK
        rank = case(*((Allocation.tier == tier, r) for tier, r in ranks.items()), else_=0)
        tier_rank = (
            select(func.coalesce(func.max(rank), 0))
            .where(
                Allocation.owner_id == User.id,
                Allocation.kind.in_(CHARGEABLE_KINDS),
                Allocation.status.in_([*USABLE_STATUSES, AllocationStatus.new]),
                Allocation.starts_at <= now,
                or_(Allocation.ends_at.is_(None), Allocation.ends_at > now),
            )
            .correlate(User)
            .scalar_subquery()
        )
        per_user = (
            select(tier_rank.label("rank"), StorageUsageSnapshot)
            .select_from(User)
            .join(StorageUsageSnapshot, StorageUsageSnapshot.id == latest_snapshot_id(User.id))
            .subquery()
        )
        rows = session.execute(
            select(
                per_user.c.rank,
                func.count(),
                func.sum(per_user.c.home_bytes),
                func.sum(per_user.c.home_files),
                func.sum(per_user.c.scratch_bytes),
                func.sum(per_user.c.scratch_files),
                _count_true(per_user.c.over_soft),
                _count_true(per_user.c.over_hard),
                func.max(per_user.c.measured_at),
            ).group_by(per_user.c.rank)
        ).all()
        names = {r: tier for tier, r in ranks.items()}
        by_tier = [
            TierStorage(names.get(int(r or 0), "entry"), *(int(v or 0) for v in values))
            for r, *values, _ in rows
        ]
        last = max((_utc(row[-1]) for row in rows if row[-1] is not None), default=None)
        manifests = {
            (str(status), str(area)): (int(n), int(b or 0))
            for status, area, n, b in session.execute(
                select(
                    PurgeManifest.status,
                    PurgeManifest.area,
                    func.count(),
                    func.sum(PurgeManifest.bytes),
                ).group_by(PurgeManifest.status, PurgeManifest.area)
            )
        }
        scan = session.scalar(
            select(AuditEvent.after)
            .where(AuditEvent.action == "storage.scan")
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(1)
        )
        errors = scan.get("errors") if isinstance(scan, dict) else None
        return StorageSummary(
            by_tier=sorted(by_tier, key=lambda t: ranks.get(t.tier, 0)),
            last_scan_at=last,
            last_scan_errors=int(errors) if isinstance(errors, int) else None,
            manifests=manifests,
        )


def _count_true(column: Any) -> Any:
    return func.sum(func.cast(column, Integer))


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
