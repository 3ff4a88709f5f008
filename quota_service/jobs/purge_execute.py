"""Purge step 3, execute: act on the manifests whose notices are old enough."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from hub_config.userdirs import directory_name

from ..filesystem import manifest as mf
from ..filesystem.archive import S3Archiver
from ..filesystem.executor import ExecResult, ExecutorError, execute, execute_many
from ..filesystem.journal import FileJournal
from ..filesystem.notify import (
    may_act,
)
from ..schema import User
from ..schema.purge_manifest import ManifestStatus, PurgeManifest
from ..services import manifest_guard as guard
from .purge_common import PurgeJobBase, ns_of
from .results import ExecuteRow, StepReport

if TYPE_CHECKING:
    pass


class ExecuteStep(PurgeJobBase):
    """`execute`: the manifests whose lead time has passed, from checked private copies."""

    def execute(
        self, *, yes: bool = False, users: list[str] | None = None
    ) -> StepReport[ExecuteRow]:
        now = self.factory.clock()
        report = StepReport[ExecuteRow]("execute", dry_run=not yes)
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
                        [copy for _p, copy in checked], now_ns=ns_of(now), dry_run=not yes
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
            report.manifests.sort(key=lambda r: r.manifest)
            with self.factory.unit_of_work() as svc:
                self._audit(svc, "storage.purge.execute", now.isoformat(), report, not yes)
        return report

    def _archive(
        self, p: guard.Planned, copy: Path, archiver: S3Archiver, now: datetime, yes: bool
    ) -> ExecResult | str:
        try:
            return execute(
                copy, FileJournal(p.journal), now_ns=ns_of(now), dry_run=not yes, archiver=archiver
            )
        except (ExecutorError, OSError, mf.ManifestError) as exc:
            return str(exc)

    def _checked(
        self,
        todo: list[guard.Planned],
        work: Path,
        now: datetime,
        yes: bool,
        report: StepReport[ExecuteRow],
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
        report: StepReport[ExecuteRow],
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
        report: StepReport[ExecuteRow],
    ) -> None:
        if isinstance(outcome, str):
            report.errors.append(f"{p.user} manifest {p.id}: {outcome}")
            return
        res = outcome
        result = ExecuteRow(
            manifest=p.id,
            user=p.user,
            done=res.done,
            kept=res.kept,
            absent=res.absent,
            errors=res.errors,
            uploaded=res.uploaded,
            already_done=res.already_done,
            bytes_freed=res.bytes_freed,
            kept_samples=res.kept_samples[:10],
            error_samples=res.error_samples[:10],
        )
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
            m.result = result.as_dict()

    def _copy_records(self, archiver: S3Archiver, p: guard.Planned, copy: Path) -> None:
        """Keep the manifest (the checked copy) and journal beside the archived objects."""
        assert p.archive_prefix is not None
        base = f"{p.archive_prefix}{directory_name(p.user)}/{p.run_id}/"
        archiver.put_json_lines(base + "manifest.jsonl", copy)
        if p.journal.exists():
            archiver.put_json_lines(base + "journal.jsonl", p.journal)
