"""Purge step 1, plan: decide per user and write one manifest per user and area."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from hub_config.userdirs import directory_name

from ..filesystem import manifest as mf
from ..filesystem.planner import Decision, UserFacts, decide, plan_root, root_header
from ..filesystem.shards import Shard
from ..schema import Allocation, StorageUsageSnapshot, User
from ..schema.purge_manifest import ManifestStatus, PurgeManifest
from ..schema.purge_run import PurgeRun
from ..store.manifests import is_pending, unrestored_archive
from ..store.snapshots import NEWEST_FIRST, latest_snapshot
from .purge_common import ARCHIVE_REASONS, WHOLE_HOME, PurgeJobBase, ns_of
from .results import PlanRow, StepReport

if TYPE_CHECKING:
    from ..factory import Services


@dataclass(frozen=True)
class _Written:
    """A manifest the plan wrote, and what its database row needs besides the report row."""

    row: PlanRow
    user_id: int
    archive: bool
    digest: str


class PlanStep(PurgeJobBase):
    """`plan`: one manifest per user and area that the tier policy says to act on."""

    def _facts(self, svc: Services, user: User) -> UserFacts:
        session = svc.ctx.session
        now = svc.ctx.now()
        tier = svc.users.tier(user)
        quota = svc.users.home_quota(user)
        latest = latest_snapshot(session, user.id)
        over_since = None
        if latest is not None and latest.over_soft:
            last_ok = session.scalar(
                select(StorageUsageSnapshot.measured_at)
                .where(StorageUsageSnapshot.user_id == user.id, ~StorageUsageSnapshot.over_soft)
                .order_by(*NEWEST_FIRST)
                .limit(1)
            )
            q = select(StorageUsageSnapshot.measured_at).where(
                StorageUsageSnapshot.user_id == user.id, StorageUsageSnapshot.over_soft
            )
            if last_ok is not None:
                q = q.where(StorageUsageSnapshot.measured_at > last_ok)
            over_since = session.scalar(q.order_by(StorageUsageSnapshot.measured_at).limit(1))
        ended = None
        if tier != "consortium":
            for alloc in svc.users.allocations(user):
                if alloc.tier != "consortium":
                    continue
                end = alloc.ends_at
                if end is None and alloc.parent_id is not None:
                    pool = session.get(Allocation, alloc.parent_id)
                    end = pool.ends_at if pool else None
                if end is not None and end <= now and (ended is None or end > ended):
                    ended = end
        archived = session.scalar(
            select(PurgeManifest.id).where(
                PurgeManifest.user_id == user.id, unrestored_archive(WHOLE_HOME)
            )
        )
        return UserFacts(
            user=user.username,
            tier="consortium" if ended is not None else tier,
            last_login=user.last_login_at,
            created=user.created_at,
            allocation_end=ended,
            home_bytes=latest.home_bytes if latest else 0,
            soft_bytes=quota[0] if quota else None,
            hard_bytes=quota[1] if quota else None,
            over_soft_since=over_since,
            home_archived=archived is not None,
        )

    # -- plan ------------------------------------------------------------------------------
    def plan(
        self,
        *,
        users: list[str] | None = None,
        dry_run: bool = False,
        shard: Shard | None = None,
        run_id: str | None = None,
    ) -> StepReport[PlanRow]:
        """Plan for everyone, or for one shard: the users whose directory name hashes to it
        (`filesystem.shards`). Shards of one run hold the purge lock together (shared)."""
        shard = shard or Shard()
        with self._lock(shared=not shard.whole):
            return self._plan(users, dry_run, shard, run_id)

    def _plan(
        self, users: list[str] | None, dry_run: bool, shard: Shard, base: str | None
    ) -> StepReport[PlanRow]:
        now = self.factory.clock()
        # A shard's manifests go to its own run (`<run>-s<index>`); a rerun of the shard adds
        # to that run only what is not pending already.
        run_id = shard_run_id(base, shard) if base else mf.new_run_id(ns_of(now))
        action_at = now + self.max_lead
        run_dir = self.config.state_dir / "runs" / run_id
        report = StepReport[PlanRow]("plan", dry_run=dry_run, run_id=run_id)
        todo: list[tuple[int, Decision]] = []
        with self.factory.unit_of_work() as svc:
            if not dry_run and shard.index == 0:
                self._retire_unbound(svc, report)
            q = select(User).order_by(User.username)
            if users:
                q = q.where(User.username.in_(users))
            for user in svc.ctx.session.scalars(q):
                if not shard.holds(directory_name(user.username)):
                    continue
                pending = set(
                    svc.ctx.session.scalars(
                        select(PurgeManifest.area).where(
                            PurgeManifest.user_id == user.id, is_pending()
                        )
                    )
                )
                facts = self._facts(svc, user)
                decisions, _flags = decide(facts, self.factory.policy.tier(facts.tier), now)
                todo += [(user.id, d) for d in decisions if d.area not in pending]
        rows: list[_Written] = []
        for user_id, d in todo:
            root = self.config.root_of(d.user, d.area)
            if root is None or not root.is_dir() or root.is_symlink():
                continue
            archive = d.reason in ARCHIVE_REASONS
            try:
                header = root_header(
                    d,
                    os.fsencode(root),
                    run_id,
                    ns_of(now),
                    ns_of(action_at),
                    bucket=self.config.archive.bucket if archive else None,
                    storage_class=self.config.archive.storage_class if archive else None,
                )
            except OSError as exc:
                report.errors.append(f"{d.user} {d.area}: {exc.strerror}")
                continue
            path = run_dir / f"{directory_name(d.user)}.{d.area}.manifest.jsonl"
            writer = mf.ManifestWriter(path, header)
            try:
                stats = plan_root(d, writer, ns_of(now), prefix=self.config.archive.prefix)
            except BaseException:
                writer.abort()
                raise
            if stats.entries == 0 or dry_run:
                writer.abort()
            else:
                writer.close()
            row = PlanRow(
                user=d.user,
                area=d.area,
                reason=d.reason,
                why=d.why,
                entries=stats.entries,
                files=stats.files,
                bytes=stats.bytes,
                path=str(path),
                action_at=action_at.isoformat(),
                excluded_foreign_links=stats.excluded_foreign_links,
                walk_issues=stats.report.count,
            )
            report.manifests.append(row)
            if stats.entries and not dry_run:
                rows.append(_Written(row, user_id, archive, writer.digest))
        with self.factory.unit_of_work() as svc:
            run = svc.ctx.session.scalar(select(PurgeRun).where(PurgeRun.run_id == run_id))
            if rows and run is not None:
                summary = dict(run.summary or {})
                summary["manifests"] = int(summary.get("manifests", 0)) + len(rows)
                summary["files"] = int(summary.get("files", 0)) + sum(r.row.files for r in rows)
                run.summary = summary
            elif rows:
                run = PurgeRun(
                    run_id=run_id,
                    created_at=now,
                    actor=self.actor,
                    manifest_dir=str(run_dir),
                    action_at=action_at,
                    summary={"manifests": len(rows), "files": sum(r.row.files for r in rows)},
                )
                svc.ctx.session.add(run)
                svc.ctx.session.flush()
            if run is not None:
                for r in rows:
                    svc.ctx.session.add(
                        PurgeManifest(
                            run_id=run.id,
                            user_id=r.user_id,
                            area=r.row.area,
                            reason=r.row.reason,
                            why=r.row.why,
                            path=r.row.path,
                            entries=r.row.entries,
                            files=r.row.files,
                            bytes=r.row.bytes,
                            status=ManifestStatus.planned,
                            created_at=now,
                            action_at=action_at,
                            first_notice_at=None,
                            executed_at=None,
                            restored_at=None,
                            archive_bucket=self.config.archive.bucket if r.archive else None,
                            archive_prefix=self.config.archive.prefix if r.archive else None,
                            digest=r.digest,
                            result=None,
                        )
                    )
            self._audit(svc, "storage.purge.plan", run_id, report, dry_run)
        return report


def shard_run_id(base: str, shard: Shard) -> str:
    """The purge run of one shard of a sharded plan (PurgeRun.run_id is at most 64 chars)."""
    suffix = "" if shard.whole else f"-s{shard.index}"
    return base[: 64 - len(suffix)] + suffix
