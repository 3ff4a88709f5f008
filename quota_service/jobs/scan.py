"""The storage scan job: measure homes and scratch, store snapshots, flag quotas, export gauges.

The file-system work is ``quota_service.filesystem.scanner`` (parallel, constant memory). This
module turns its per-directory results into one ``StorageUsageSnapshot`` per known user, in one
transaction. The quota service's /metrics exports storage gauges from those snapshots
(quota_service.metrics.StorageCollector); `scan --metrics-file` can still write per-person
gauges to a text file (node-exporter textfile format) for a node-local run, but nothing in the
chart depends on it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..filesystem.scanner import (
    RootUsage,
    by_team,
    by_user,
    discover_targets,
    discover_team_targets,
    scan_targets,
)
from ..filesystem.shards import Shard
from ..schema import StorageUsageSnapshot
from ..services.team_storage import TeamScanRow, TeamStorageService
from .purge_common import StorageConfig
from .scan_shards import Combined, combine, forget_earlier_attempt, record_shard

if TYPE_CHECKING:
    from ..factory import Factory


def ns_to_dt(ns: int) -> datetime | None:
    return datetime.fromtimestamp(ns / 1e9, UTC) if ns else None


@dataclass
class ScanUser:
    user: str
    home_bytes: int
    home_files: int
    scratch_bytes: int
    scratch_files: int
    soft_bytes: int | None
    hard_bytes: int | None
    over_soft: bool
    over_hard: bool
    issues: int
    known: bool


@dataclass
class ScanReport:
    measured_at: datetime
    seconds: float
    targets: int
    users: list[ScanUser] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Team folders measured (`consortium_id` None: no consortium names the folder).
    teams: list[TeamScanRow] = field(default_factory=list)
    run_id: str = ""
    shard: Shard = field(default_factory=Shard)
    combined: Combined | None = None

    @property
    def over_soft(self) -> list[str]:
        return [u.user for u in self.users if u.over_soft]

    @property
    def over_hard(self) -> list[str]:
        return [u.user for u in self.users if u.over_hard]

    def as_dict(self) -> dict[str, Any]:
        return {
            "measured_at": self.measured_at.isoformat(),
            "seconds": round(self.seconds, 3),
            "targets": self.targets,
            "users": len(self.users),
            "over_soft": self.over_soft,
            "over_hard": self.over_hard,
            "unknown_directories": self.unknown,
            "errors": self.errors,
            "issues": sum(u.issues for u in self.users),
            "teams": {t.team_dir: t.bytes for t in self.teams},
            "unknown_team_folders": [t.team_dir for t in self.teams if t.consortium_id is None],
            "run_id": self.run_id,
            "shard": {"index": self.shard.index, "count": self.shard.count},
            "run": self.combined.as_dict() if self.combined else None,
        }


class StorageService:
    def __init__(self, factory: Factory, config: StorageConfig) -> None:
        self.factory = factory
        self.config = config

    def scan(
        self,
        *,
        workers: int | None = None,
        progress: Callable[[RootUsage], None] | None = None,
        metrics_file: Path | None = None,
        shard: Shard | None = None,
        threads: int = 1,
        run_id: str | None = None,
    ) -> ScanReport:
        """Scan this shard's directories (all of them by default), then record one snapshot per
        known user and team folder and the shard's row (one transaction); combine the run when
        every shard is recorded (`scan_shards`)."""
        shard = shard or Shard()
        measured_at = self.factory.clock()
        run_id = run_id or f"scan-{measured_at.strftime('%Y%m%dT%H%M%S.%fZ')}"
        started = datetime.now(UTC)
        targets = discover_targets(
            os.fsencode(self.config.home_root),
            os.fsencode(self.config.scratch_root) if self.config.scratch_root else None,
        )
        # Team folders: the same walk, a snapshot per folder with its bytes by file owner.
        targets += discover_team_targets(os.fsencode(self.factory.settings.teams_root))
        targets = [t for t in targets if shard.holds(os.path.basename(t.path))]
        results = list(scan_targets(targets, workers=workers, progress=progress, threads=threads))
        seconds = (datetime.now(UTC) - started).total_seconds()
        report = ScanReport(measured_at, seconds, len(targets), run_id=run_id, shard=shard)
        for r in results:
            if r.error:
                report.errors.append(f"{r.user} {r.area}: {r.error}")
        with self.factory.unit_of_work() as svc:
            prev = forget_earlier_attempt(svc, run_id, shard)
            for name, totals in by_user(results).items():
                user = svc.users.find(name)
                quota = svc.users.home_quota(user) if user is not None else None
                soft, hard = quota if quota else (None, None)
                home_b = totals.home_bytes
                parts = [p for p in (totals.home, totals.scratch) if p is not None]
                row = ScanUser(
                    user=name,
                    home_bytes=home_b,
                    home_files=totals.home.files if totals.home else 0,
                    scratch_bytes=totals.scratch_bytes,
                    scratch_files=totals.scratch.files if totals.scratch else 0,
                    soft_bytes=soft,
                    hard_bytes=hard,
                    over_soft=soft is not None and home_b > soft,
                    over_hard=hard is not None and home_b > hard,
                    issues=sum(p.issues for p in parts),
                    known=user is not None,
                )
                report.users.append(row)
                if user is None:
                    report.unknown.append(name)
                    continue
                svc.ctx.session.add(
                    StorageUsageSnapshot(
                        user_id=user.id,
                        measured_at=measured_at,
                        home_bytes=row.home_bytes,
                        home_files=row.home_files,
                        scratch_bytes=row.scratch_bytes,
                        scratch_files=row.scratch_files,
                        newest_atime=ns_to_dt(max((p.newest_atime_ns for p in parts), default=0)),
                        newest_mtime=ns_to_dt(max((p.newest_mtime_ns for p in parts), default=0)),
                        over_soft=row.over_soft,
                        over_hard=row.over_hard,
                    )
                )
            report.teams = TeamStorageService(svc.ctx).record_scan(by_team(results), measured_at)
            record_shard(
                svc,
                prev,
                run_id,
                shard,
                measured_at=measured_at,
                users=len(report.users),
                teams=len(report.teams),
                errors=len(report.errors),
            )
            svc.audit.record(
                actor="job:scan",
                # A whole scan is the run; a shard's record names its shard (the run's own
                # record is written once, by `combine`).
                action="storage.scan" if shard.whole else "storage.scan.shard",
                target_type="storage",
                target_id=measured_at.isoformat() if shard.whole else f"{run_id}/{shard.index}",
                after={
                    "users": len(report.users),
                    "over_soft": len(report.over_soft),
                    "over_hard": len(report.over_hard),
                    "errors": len(report.errors),
                    "teams": len(report.teams),
                    "attempt": prev.attempts + 1 if prev is not None else 1,
                },
            )
        report.combined = combine(self.factory, run_id, shard.count, audit=not shard.whole)
        if metrics_file is not None:
            write_metrics(metrics_file, report, results)
        return report


def write_metrics(path: Path, report: ScanReport, results: list[RootUsage]) -> None:
    """Per-person gauges in the textfile-collector format, written atomically (optional:
    the service's /metrics serves the same figures by tier, from the database)."""
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

    reg = CollectorRegistry()
    used = Gauge("nexus_storage_used_bytes", "Allocated bytes", ["user", "area"], registry=reg)
    files = Gauge("nexus_storage_files", "Files (non-directories)", ["user", "area"], registry=reg)
    issues = Gauge(
        "nexus_storage_scan_issues",
        "Entries the scan could not enter",
        ["user", "area"],
        registry=reg,
    )
    over = Gauge(
        "nexus_storage_over_quota", "1 when over the quota", ["user", "level"], registry=reg
    )
    quota = Gauge("nexus_storage_quota_bytes", "Home quota", ["user", "level"], registry=reg)
    for r in results:
        used.labels(r.user, r.area).set(r.bytes_allocated)
        files.labels(r.user, r.area).set(r.files)
        issues.labels(r.user, r.area).set(r.issues)
    for u in report.users:
        over.labels(u.user, "soft").set(1 if u.over_soft else 0)
        over.labels(u.user, "hard").set(1 if u.over_hard else 0)
        if u.soft_bytes is not None:
            quota.labels(u.user, "soft").set(u.soft_bytes)
        if u.hard_bytes is not None:
            quota.labels(u.user, "hard").set(u.hard_bytes)
    Gauge("nexus_storage_scan_seconds", "Duration of the last scan", registry=reg).set(
        report.seconds
    )
    Gauge("nexus_storage_scan_errors", "Roots the last scan could not open", registry=reg).set(
        len(report.errors)
    )
    Gauge("nexus_storage_scan_timestamp_seconds", "When the last scan measured", registry=reg).set(
        report.measured_at.timestamp()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), reg)
