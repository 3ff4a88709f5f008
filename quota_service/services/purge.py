"""The purge pipeline: plan → notify → (grace) → execute → restore, as jobs.

Each step is a method that owns its transactions (``Factory.unit_of_work``) and leaves an audit
record. File-system work happens between transactions, never inside one.

- ``plan`` decides per user (``filesystem.planner.decide``), walks the chosen roots and writes one
  manifest per user and area under ``<state_dir>/runs/<run id>/``. A user with a manifest still
  pending for an area gets no new one for it: its notices are already counting down.
- ``notify`` sends each pending manifest's notices as they fall due (by e-mail when SMTP is
  configured, and in the app). The action time is pushed back when needed so that it is always at
  least the longest lead (7 days by default) after the first notice actually sent.
- ``execute`` acts only on manifests whose first notice is that old, and whose action time has
  come; it is a dry run unless ``yes``. A manifest that ended with errors is ``partial`` and the
  next run finishes it (the journal skips every step already done).
- ``restore`` brings back a user's archived home; ``restore_if_archived`` is what the spawn path
  calls at login.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from hub_config.userdirs import directory_name

from ..errors import Conflict, NotFound, UpstreamUnavailable
from ..filesystem import manifest as mf
from ..filesystem.archive import S3Archiver, restore
from ..filesystem.executor import ExecResult, ExecutorError, execute, execute_many
from ..filesystem.journal import FileJournal
from ..filesystem.notify import (
    InvalidRecipientError,
    PurgeSummary,
    SmtpSender,
    due_lead,
    may_act,
    recipient_for,
    render,
)
from ..filesystem.planner import UserFacts, decide, plan_root, root_header
from ..schema import Allocation, StorageUsageSnapshot, User
from ..schema.notice_delivery import NoticeDelivery
from ..schema.purge_manifest import PENDING_STATUSES, ManifestStatus, PurgeManifest
from ..schema.purge_run import PurgeRun
from . import manifest_guard as guard
from .storage import StorageConfig

if TYPE_CHECKING:
    from ..factory import Factory, Services

ARCHIVE_REASONS = (mf.HOME_INACTIVE, mf.HOME_ALLOCATION_ENDED, mf.OVER_QUOTA_LRU)
WHOLE_HOME = (mf.HOME_INACTIVE, mf.HOME_ALLOCATION_ENDED)


def _ns(dt: datetime) -> int:
    return int(dt.timestamp() * 1_000_000_000)


@dataclass
class StepReport:
    step: str
    dry_run: bool = False
    manifests: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    run_id: str | None = None
    # Worth saying, not failures (they leave the exit code alone).
    notes: list[str] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        return bool(self.errors) or any(m.get("errors") for m in self.manifests)

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "dry_run": self.dry_run,
            "run_id": self.run_id,
            "manifests": self.manifests,
            "errors": self.errors,
            "notes": self.notes,
        }


class PurgeService:
    def __init__(
        self,
        factory: Factory,
        config: StorageConfig,
        *,
        s3_client: Any = None,
        sender: SmtpSender | None = None,
        actor: str = "job:purge",
    ) -> None:
        self.factory = factory
        self.config = config
        self._s3 = s3_client
        self.sender = sender
        self.actor = actor

    # -- helpers ---------------------------------------------------------------------------
    @property
    def leads(self) -> list[int]:
        return list(self.factory.policy.notices.lead_days)

    @property
    def max_lead(self) -> timedelta:
        return timedelta(days=max(self.leads, default=0))

    def archiver(self) -> S3Archiver:
        if self._s3 is None:
            import boto3

            a = self.config.archive
            self._s3 = boto3.client("s3", endpoint_url=a.endpoint_url, region_name=a.region)
        a = self.config.archive
        return S3Archiver(self._s3, a.bucket, storage_class=a.storage_class)

    @contextmanager
    def _lock(self, *, wait: bool = False) -> Iterator[None]:
        """One purge step at a time on this state directory (the CronJobs also Forbid overlap).

        Raises ``Conflict`` at once when another step holds it, unless ``wait``: a restore at
        sign-in runs in the background and may wait for a purge job to finish.
        """
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.config.state_dir / "purge.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                raise Conflict("another purge job holds the lock; try again later") from None
            yield
        finally:
            os.close(fd)

    def _facts(self, svc: Services, user: User) -> UserFacts:
        session = svc.ctx.session
        now = svc.ctx.now()
        tier = svc.users.tier(user)
        quota = svc.users.home_quota(user)
        latest = session.scalars(
            select(StorageUsageSnapshot)
            .where(StorageUsageSnapshot.user_id == user.id)
            .order_by(StorageUsageSnapshot.measured_at.desc())
            .limit(1)
        ).first()
        over_since = None
        if latest is not None and latest.over_soft:
            last_ok = session.scalar(
                select(StorageUsageSnapshot.measured_at)
                .where(StorageUsageSnapshot.user_id == user.id, ~StorageUsageSnapshot.over_soft)
                .order_by(StorageUsageSnapshot.measured_at.desc())
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
                PurgeManifest.user_id == user.id,
                PurgeManifest.reason.in_(WHOLE_HOME),
                PurgeManifest.status.in_([ManifestStatus.done, ManifestStatus.partial]),
                PurgeManifest.restored_at.is_(None),
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
    def plan(self, *, users: list[str] | None = None, dry_run: bool = False) -> StepReport:
        with self._lock():
            return self._plan(users, dry_run)

    def _plan(self, users: list[str] | None, dry_run: bool) -> StepReport:
        now = self.factory.clock()
        run_id = mf.new_run_id(_ns(now))
        action_at = now + self.max_lead
        run_dir = self.config.state_dir / "runs" / run_id
        report = StepReport("plan", dry_run=dry_run, run_id=run_id)
        todo: list[tuple[int, Any]] = []
        with self.factory.unit_of_work() as svc:
            if not dry_run:
                self._retire_unbound(svc, report)
            q = select(User).order_by(User.username)
            if users:
                q = q.where(User.username.in_(users))
            for user in svc.ctx.session.scalars(q):
                pending = set(
                    svc.ctx.session.scalars(
                        select(PurgeManifest.area).where(
                            PurgeManifest.user_id == user.id,
                            PurgeManifest.status.in_(PENDING_STATUSES),
                        )
                    )
                )
                facts = self._facts(svc, user)
                decisions, _flags = decide(facts, self.factory.policy.tier(facts.tier), now)
                todo += [(user.id, d) for d in decisions if d.area not in pending]
        rows: list[dict[str, Any]] = []
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
                    _ns(now),
                    _ns(action_at),
                    bucket=self.config.archive.bucket if archive else None,
                    storage_class=self.config.archive.storage_class if archive else None,
                )
            except OSError as exc:
                report.errors.append(f"{d.user} {d.area}: {exc.strerror}")
                continue
            path = run_dir / f"{directory_name(d.user)}.{d.area}.manifest.jsonl"
            writer = mf.ManifestWriter(path, header)
            try:
                stats = plan_root(d, writer, _ns(now), prefix=self.config.archive.prefix)
            except BaseException:
                writer.abort()
                raise
            if stats.entries == 0 or dry_run:
                writer.abort()
            else:
                writer.close()
            row = {
                "user": d.user,
                "area": d.area,
                "reason": d.reason,
                "why": d.why,
                "entries": stats.entries,
                "files": stats.files,
                "bytes": stats.bytes,
                "path": str(path),
                "action_at": action_at.isoformat(),
                "excluded_foreign_links": stats.excluded_foreign_links,
                "walk_issues": stats.report.count,
            }
            report.manifests.append(row)
            if stats.entries and not dry_run:
                rows.append(
                    {**row, "user_id": user_id, "archive": archive, "digest": writer.digest}
                )
        with self.factory.unit_of_work() as svc:
            if rows:
                run = PurgeRun(
                    run_id=run_id,
                    created_at=now,
                    actor=self.actor,
                    manifest_dir=str(run_dir),
                    action_at=action_at,
                    summary={"manifests": len(rows), "files": sum(r["files"] for r in rows)},
                )
                svc.ctx.session.add(run)
                svc.ctx.session.flush()
                for r in rows:
                    svc.ctx.session.add(
                        PurgeManifest(
                            run_id=run.id,
                            user_id=r["user_id"],
                            area=r["area"],
                            reason=r["reason"],
                            why=r["why"],
                            path=r["path"],
                            entries=r["entries"],
                            files=r["files"],
                            bytes=r["bytes"],
                            status=ManifestStatus.planned,
                            created_at=now,
                            action_at=action_at,
                            first_notice_at=None,
                            executed_at=None,
                            restored_at=None,
                            archive_bucket=self.config.archive.bucket if r["archive"] else None,
                            archive_prefix=self.config.archive.prefix if r["archive"] else None,
                            digest=r["digest"],
                            result=None,
                        )
                    )
            self._audit(svc, "storage.purge.plan", run_id, report, dry_run)
        return report

    def _audit(
        self, svc: Services, action: str, target: str, report: StepReport, dry_run: bool
    ) -> None:
        svc.audit.record(
            actor=self.actor,
            action=action,
            target_type="purge",
            target_id=target,
            after={
                "dry_run": dry_run,
                "manifests": len(report.manifests),
                "files": sum(int(m.get("files", 0)) for m in report.manifests),
                "errors": len(report.errors),
            },
        )

    # -- notify ----------------------------------------------------------------------------
    def notify(self, *, dry_run: bool = False) -> StepReport:
        with self._lock():
            return self._notify(dry_run)

    def _notify(self, dry_run: bool) -> StepReport:
        now = self.factory.clock()
        report = StepReport("notify", dry_run=dry_run)
        with self.factory.unit_of_work() as svc:
            if not dry_run:
                self._retire_unbound(svc, report)
            session = svc.ctx.session
            pending = list(
                session.scalars(
                    select(PurgeManifest)
                    .where(PurgeManifest.status.in_(PENDING_STATUSES))
                    .order_by(PurgeManifest.id)
                )
            )
            for m in pending:
                user = session.get(User, m.user_id)
                assert user is not None
                sent = self._sent(svc, m)
                floor = (m.first_notice_at or now) + self.max_lead
                act_at = max(m.action_at, floor)
                lead = due_lead(act_at, self.leads, sent, now)
                if lead is None:
                    continue
                entry = {"user": user.username, "manifest": m.id, "lead_days": lead}
                entry["action_at"] = act_at.isoformat()
                report.manifests.append(entry)
                if dry_run:
                    continue
                try:
                    sample = self._sample(m)
                except (guard.ManifestRefused, mf.ManifestError, OSError) as exc:
                    # No notice names files from a file that is not the planned one.
                    report.errors.append(f"{user.username} manifest {m.id}: {exc}; not notified")
                    continue
                summary = PurgeSummary(
                    user=user.username,
                    reason=m.reason,
                    why=m.why,
                    action_at=act_at,
                    files=m.files,
                    bytes=m.bytes,
                    sample=sample,
                    manifest_url=self._manifest_url(m),
                )
                subject, body = render(summary, lead)
                delivered = True
                if self.sender is not None and self.config.smtp.host:
                    try:
                        to = recipient_for(
                            user.email, user.username, self.config.smtp.recipient_template
                        )
                        msg_id = self.sender.send(to, subject, body)
                    except (OSError, InvalidRecipientError) as exc:  # smtplib's are OSErrors
                        delivered = False
                        report.errors.append(f"{user.username}: e-mail failed: {exc}")
                    else:
                        session.add(self._delivery(m, lead, "email", to, msg_id, now))
                svc.notices.post(
                    user,
                    "purge-warning",
                    f"{subject}\n\n{body}",
                    dedupe_key=f"purge:{m.id}:{lead}",
                    due_at=act_at,
                )
                session.add(self._delivery(m, lead, "app", None, None, now))
                if delivered:
                    if m.first_notice_at is None:
                        m.first_notice_at = now
                    m.action_at = act_at
                    m.status = ManifestStatus.notified
            self._audit(svc, "storage.purge.notify", now.isoformat(), report, dry_run)
        return report

    def _sent(self, svc: Services, m: PurgeManifest) -> set[int]:
        """Leads whose notice reached every configured channel."""
        rows = svc.ctx.session.execute(
            select(NoticeDelivery.lead_days, NoticeDelivery.channel).where(
                NoticeDelivery.manifest_id == m.id
            )
        ).all()
        need = {"app"} | ({"email"} if self.sender is not None and self.config.smtp.host else set())
        by_lead: dict[int, set[str]] = {}
        for lead, channel in rows:
            by_lead.setdefault(lead, set()).add(channel)
        return {lead for lead, chans in by_lead.items() if need <= chans}

    def _delivery(
        self,
        m: PurgeManifest,
        lead: int,
        channel: str,
        to: str | None,
        msg_id: str | None,
        now: datetime,
    ) -> NoticeDelivery:
        return NoticeDelivery(
            manifest_id=m.id,
            user_id=m.user_id,
            lead_days=lead,
            channel=channel,
            recipient=to,
            message_id=msg_id,
            sent_at=now,
        )

    def _sample(self, m: PurgeManifest, n: int = 5) -> list[str]:
        """A few of the files, read from a checked copy of the manifest."""
        out: list[str] = []
        with tempfile.TemporaryDirectory(prefix="nexus-notify-") as tmp:
            copy, digest = guard.private_copy(m.id, Path(m.path), Path(tmp))
            guard.check_digest(m.digest, digest)
            for e in mf.read_entries(copy):
                if e.kind == "file":
                    out.append(mf.display(e.path))
                    if len(out) >= n:
                        break
        return out

    def _manifest_url(self, m: PurgeManifest) -> str:
        base = self.config.public_url.rstrip("/")
        return f"{base}/services/quota/storage/purges/{m.id}" if base else ""

    # -- execute ---------------------------------------------------------------------------
    def execute(self, *, yes: bool = False, users: list[str] | None = None) -> StepReport:
        now = self.factory.clock()
        report = StepReport("execute", dry_run=not yes)
        with self._lock():
            with self.factory.unit_of_work() as svc:
                if yes:
                    self._retire_unbound(svc, report)
                q = (
                    guard.planned_rows()
                    .where(
                        PurgeManifest.status.in_([ManifestStatus.notified, ManifestStatus.partial])
                    )
                    .order_by(PurgeManifest.id)
                )
                if users:
                    q = q.where(User.username.in_(users))
                ready = [
                    guard.planned(m, name, run_id)
                    for m, name, run_id in svc.ctx.session.execute(q).all()
                    if now >= m.action_at and may_act(m.first_notice_at, self.leads, now)
                ]
            # Each manifest runs from a private copy checked against its row; copies live in
            # this pod's /tmp only while their manifests run. Deletion-only manifests run
            # several at once (one process per CPU); archives one at a time, in this process.
            workers = os.cpu_count() or 1
            deletions = [p for p in ready if not p.archive_bucket]
            with tempfile.TemporaryDirectory(prefix="nexus-purge-") as tmp:
                work = Path(tmp)
                for start in range(0, len(deletions), workers):
                    checked = self._checked(
                        deletions[start : start + workers], work, now, yes, report
                    )
                    results = execute_many(
                        [copy for _p, copy in checked], now_ns=_ns(now), dry_run=not yes
                    )
                    for (p, copy), outcome in zip(checked, results, strict=True):
                        self._record(p, copy, outcome, None, now, yes, report)
                for p in ready:
                    if not p.archive_bucket:
                        continue
                    for _p, copy in self._checked([p], work, now, yes, report):
                        archiver = self.archiver()
                        done = self._archive(p, copy, archiver, now, yes)
                        self._record(p, copy, done, archiver, now, yes, report)
            report.manifests.sort(key=lambda r: int(r["manifest"]))
            with self.factory.unit_of_work() as svc:
                self._audit(svc, "storage.purge.execute", now.isoformat(), report, not yes)
        return report

    def _archive(
        self, p: guard.Planned, copy: Path, archiver: S3Archiver, now: datetime, yes: bool
    ) -> ExecResult | str:
        try:
            return execute(
                copy, FileJournal(p.journal), now_ns=_ns(now), dry_run=not yes, archiver=archiver
            )
        except (ExecutorError, OSError, mf.ManifestError) as exc:
            return str(exc)

    def _checked(
        self, todo: list[guard.Planned], work: Path, now: datetime, yes: bool, report: StepReport
    ) -> list[tuple[guard.Planned, Path]]:
        """Private copies of the manifests that are what their rows planned; the others are
        reported, noted on their rows and left as they are (pending or partial)."""
        out: list[tuple[guard.Planned, Path]] = []
        for p in todo:
            try:
                copy, digest = guard.private_copy(p.id, p.path, work)
                guard.check_planned(p, copy, digest, self.config.root_of(p.user, p.area))
                guard.journal_beside(p, copy)
            except (guard.ManifestRefused, mf.ManifestError, OSError) as exc:
                reason = str(exc)
                report.errors.append(f"{p.user} manifest {p.id}: {reason}; not executed")
                if yes:
                    with self.factory.unit_of_work() as svc:
                        m = svc.ctx.session.get(PurgeManifest, p.id)
                        assert m is not None
                        m.result = guard.refusal(m, reason, now)
                continue
            if yes and p.digest is None:
                self._adopt(p, digest)
            out.append((p, copy))
        return out

    def _record(
        self,
        p: guard.Planned,
        copy: Path,
        outcome: ExecResult | str,
        archiver: S3Archiver | None,
        now: datetime,
        yes: bool,
        report: StepReport,
    ) -> None:
        try:
            self._record_outcome(p, copy, outcome, archiver, now, yes, report)
        finally:
            copy.unlink(missing_ok=True)
            copy.with_suffix(".journal").unlink(missing_ok=True)

    def _record_outcome(
        self,
        p: guard.Planned,
        copy: Path,
        outcome: ExecResult | str,
        archiver: S3Archiver | None,
        now: datetime,
        yes: bool,
        report: StepReport,
    ) -> None:
        if isinstance(outcome, str):
            report.errors.append(f"{p.user} manifest {p.id}: {outcome}")
            return
        res = outcome
        result = {
            "manifest": p.id,
            "user": p.user,
            "done": res.done,
            "kept": res.kept,
            "absent": res.absent,
            "errors": res.errors,
            "uploaded": res.uploaded,
            "already_done": res.already_done,
            "bytes_freed": res.bytes_freed,
            "kept_samples": res.kept_samples[:10],
            "error_samples": res.error_samples[:10],
        }
        report.manifests.append(result)
        if not yes:
            return
        if archiver is not None:
            self._copy_records(archiver, p, copy)
        with self.factory.unit_of_work() as svc:
            m = svc.ctx.session.get(PurgeManifest, p.id)
            assert m is not None
            m.status = ManifestStatus.done if res.complete else ManifestStatus.partial
            m.executed_at = now
            m.result = result

    def _retire_unbound(self, svc: Services, report: StepReport) -> None:
        retired = guard.retire_unbound(svc.ctx.session, svc.ctx.now())
        if retired:
            report.notes.append(f"manifests {retired}: {guard.UNBOUND}")
            svc.audit.record(
                actor=self.actor,
                action="storage.purge.retire-unbound",
                target_type="purge",
                target_id=",".join(map(str, retired)),
                after={"cancelled": retired, "why": guard.UNBOUND},
            )

    def _adopt(self, p: guard.Planned, digest: str) -> None:
        """Bind a row from before digests, that an older executor already acted on, to its
        file as found now (once), so it can still be finished and restored."""
        with self.factory.unit_of_work() as svc:
            m = svc.ctx.session.get(PurgeManifest, p.id)
            assert m is not None
            if m.digest is None:
                m.digest = digest
                svc.audit.record(
                    actor=self.actor,
                    action="storage.purge.bind-digest",
                    target_type="purge",
                    target_id=str(p.id),
                    after={"digest": digest, "status": m.status.value},
                )

    def _copy_records(self, archiver: S3Archiver, p: guard.Planned, copy: Path) -> None:
        """Keep the manifest (the checked copy) and journal beside the archived objects."""
        assert p.archive_prefix is not None
        base = f"{p.archive_prefix}{directory_name(p.user)}/{p.run_id}/"
        archiver.put_json_lines(base + "manifest.jsonl", copy)
        if p.journal.exists():
            archiver.put_json_lines(base + "journal.jsonl", p.journal)

    # -- restore ---------------------------------------------------------------------------
    def restore(
        self, username: str, *, whole_home_only: bool = False, wait: bool = False
    ) -> StepReport:
        """Restore `username`'s archives; `wait` for a running purge step instead of refusing."""
        now = self.factory.clock()
        report = StepReport("restore")
        reasons = WHOLE_HOME if whole_home_only else ARCHIVE_REASONS
        # Every login asks; almost nobody has an archive. Look before taking the purge lock,
        # then look again under it (a purge may have finished in between).
        if not self._restorable(username, reasons):
            if not whole_home_only:
                raise NotFound(f"{username} has nothing archived to restore")
            return report
        with self._lock(wait=wait), tempfile.TemporaryDirectory(prefix="nexus-restore-") as tmp:
            todo = self._restorable(username, reasons)
            for p in todo:
                try:
                    copy, digest = guard.private_copy(p.id, p.path, Path(tmp))
                    guard.check_planned(p, copy, digest, self.config.root_of(p.user, p.area))
                except (guard.ManifestRefused, mf.ManifestError, OSError) as exc:
                    # Nothing is restored from a file that is not the planned one.
                    report.errors.append(f"{username} manifest {p.id}: {exc}; not restored")
                    refused: dict[str, Any] = dict.fromkeys(
                        ("files", "symlinks", "dirs", "already", "beside", "bytes"), 0
                    )
                    refused.update(manifest=p.id, user=username, errors=1)
                    refused["error_samples"] = [(f"manifest {p.id}", f"{exc}; not restored")]
                    report.manifests.append(refused)
                    continue
                if p.digest is None:
                    self._adopt(p, digest)
                res = restore(copy, p.journal, self.archiver())
                entry = {
                    "manifest": p.id,
                    "user": username,
                    "files": res.files,
                    "symlinks": res.symlinks,
                    "dirs": res.dirs,
                    "already": res.already,
                    "beside": res.beside,
                    "bytes": res.bytes,
                    "errors": len(res.errors),
                    "error_samples": res.errors[:10],
                }
                report.manifests.append(entry)
                if res.errors:
                    continue
                with self.factory.unit_of_work() as svc:
                    m = svc.ctx.session.get(PurgeManifest, p.id)
                    assert m is not None
                    m.status = ManifestStatus.restored
                    m.restored_at = now
            if todo:
                with self.factory.unit_of_work() as svc:
                    self._audit(svc, "storage.purge.restore", username, report, False)
        return report

    def _restorable(self, username: str, reasons: Iterable[str]) -> list[guard.Planned]:
        """Archived manifests of this person not yet restored, oldest first."""
        with self.factory.unit_of_work() as svc:
            user = svc.users.get(username)
            return [
                guard.planned(m, name, run_id)
                for m, name, run_id in svc.ctx.session.execute(
                    guard.planned_rows()
                    .where(
                        PurgeManifest.user_id == user.id,
                        PurgeManifest.reason.in_(list(reasons)),
                        PurgeManifest.status.in_([ManifestStatus.done, ManifestStatus.partial]),
                        PurgeManifest.restored_at.is_(None),
                    )
                    .order_by(PurgeManifest.id)
                )
            ]

    # -- what people see -------------------------------------------------------------------
    def manifests_for(self, username: str) -> list[dict[str, Any]]:
        with self.factory.unit_of_work() as svc:
            user = svc.users.get(username)
            return [
                {
                    "id": m.id,
                    "area": m.area,
                    "reason": m.reason,
                    "why": m.why,
                    "files": m.files,
                    "bytes": m.bytes,
                    "status": m.status.value,
                    "action_at": m.action_at.isoformat(),
                    "first_notice_at": m.first_notice_at.isoformat() if m.first_notice_at else None,
                    "executed_at": m.executed_at.isoformat() if m.executed_at else None,
                    "restored_at": m.restored_at.isoformat() if m.restored_at else None,
                    "result": m.result,
                }
                for m in svc.ctx.session.scalars(
                    select(PurgeManifest)
                    .where(PurgeManifest.user_id == user.id)
                    .order_by(PurgeManifest.id.desc())
                )
            ]

    def manifest_entries(
        self, username: str, manifest_id: int, offset: int = 0, limit: int = 500
    ) -> list[dict[str, Any]]:
        """A page of one manifest's entries with each one's state, for the owner to inspect."""
        with self.factory.unit_of_work() as svc:
            user = svc.users.get(username)
            m = svc.ctx.session.get(PurgeManifest, manifest_id)
            if m is None or m.user_id != user.id:
                raise NotFound(f"no purge manifest {manifest_id} for {username}")
            path, planned = Path(m.path), m.digest
        self._readable(manifest_id, path)
        try:
            # Shown from a private copy whose digest is the planned one, never from the file.
            with tempfile.TemporaryDirectory(prefix="nexus-list-") as tmp:
                copy, digest = guard.private_copy(manifest_id, path, Path(tmp))
                guard.check_digest(planned, digest)
                return self._entries(copy, path.with_suffix(".journal"), offset, limit)
        except guard.ManifestRefused as exc:
            raise Conflict(
                f"the file list of purge manifest {manifest_id} is not the one planned, so it "
                f"is not shown and nothing is done with it: {exc}",
                code="purge_manifest_mismatch",
            ) from None
        except (OSError, mf.ManifestError) as exc:
            raise UpstreamUnavailable(
                f"the file list of purge manifest {manifest_id} cannot be read now: {exc}",
                code="purge_state_unavailable",
            ) from None

    def _readable(self, manifest_id: int, path: Path) -> None:
        """Refuse clearly when this process cannot see the jobs' manifest files."""
        if not self.config.state_dir.is_dir():
            raise UpstreamUnavailable(
                f"the file list of purge manifest {manifest_id} is not available: the purge "
                f"state directory {self.config.state_dir} is not mounted in the quota service "
                "(NEXUS_STORAGE_STATE_DIR)",
                code="purge_state_unavailable",
            )
        if not path.is_file():
            raise NotFound(f"the file list of purge manifest {manifest_id} is no longer kept")

    def _entries(self, path: Path, journal: Path, offset: int, limit: int) -> list[dict[str, Any]]:
        steps = FileJournal(journal).load() if journal.exists() else {}
        out: list[dict[str, Any]] = []
        for e in mf.read_entries(path):
            if e.seq < offset:
                continue
            if len(out) >= limit:
                break
            step = steps.get(e.seq)
            out.append(
                {
                    "path": mf.display(e.path),
                    "type": e.kind,
                    "action": e.action,
                    "size": e.size,
                    "atime": e.atime_ns // 1_000_000_000,
                    "mtime": e.mtime_ns // 1_000_000_000,
                    "archive_key": e.archive_key,
                    "state": step.state if step else "pending",
                    "note": step.reason if step else "",
                }
            )
        return out


def restore_if_archived(factory: Factory, config: StorageConfig, username: str) -> bool:
    """Called at login: bring back a home archived for inactivity. True when one was restored."""
    report = PurgeService(factory, config, actor=f"login:{username}").restore(
        username, whole_home_only=True
    )
    return any(m["files"] or m["symlinks"] for m in report.manifests)
