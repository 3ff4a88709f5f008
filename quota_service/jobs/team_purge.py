"""The purge pipeline for the folders of removed teams: plan -> notify -> grace -> execute.

A removed consortium's folder (`<teams root>/<team_dir>`) is archived whole, the way an
inactive home is: the same planner (`plan_root`, every regular file archived, symlinks kept in
the manifest, emptied directories removed deepest first, hard links of files another uid owns
left in place), the same manifest file with its digest in the row, the same purge lock, the
same notice lead days, the same executor and S3 archiver re-checking each file before acting,
and the manifest and journal kept beside the archived objects. What differs is who it is for:
the manifest names the team (`user` = team_dir, area `team`), its keys live under
`<archive prefix>teams/`, its row is a `team_archives` row, and its notices go to everyone
who was in the team when it was removed. The folder itself (root:<gid>, 0o3770) stays, empty.

`PurgeService.plan`, `notify` and `execute` run these steps after the per-person ones, so the
CronJobs and `nexus-quota purge ...` cover both.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from hub_config.userdirs import directory_name

from ..filesystem import manifest as mf
from ..filesystem.executor import ExecResult, ExecutorError, execute
from ..filesystem.journal import FileJournal
from ..filesystem.notify import InvalidRecipientError, due_lead, may_act, recipient_for
from ..filesystem.planner import decide_team, plan_root, root_header
from ..filesystem.scanner import TEAM
from ..filesystem.shards import Shard
from ..schema import Consortium, User
from ..schema.purge_manifest import PENDING_STATUSES, ManifestStatus
from ..schema.purge_run import PurgeRun
from ..schema.team_archive import ConsortiumRemoval, TeamArchive
from ..services import manifest_guard as guard
from .purge_common import PurgeJobBase, ns_of
from .results import ExecuteRow, NoticeRow, PlanRow, StepReport

TEAM_PREFIX = "teams/"
_PENDING = [s.value for s in PENDING_STATUSES]
_RUNNABLE = [ManifestStatus.notified.value, ManifestStatus.partial.value]


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


class TeamPurgeStep(PurgeJobBase):
    """The team-folder half of plan, notify and execute (run by `PurgeService`)."""

    @property
    def teams_root(self) -> Path:
        return self.factory.settings.teams_root

    @property
    def team_prefix(self) -> str:
        return f"{self.config.archive.prefix}{TEAM_PREFIX}"

    def _team_planned(self, row: TeamArchive, run_id: str) -> guard.Planned:
        return guard.Planned(
            id=row.id,
            user=row.team_dir,
            area=TEAM,
            path=Path(row.path),
            digest=row.digest,
            run_id=run_id,
            archive_bucket=row.archive_bucket,
            archive_prefix=row.archive_prefix,
        )

    # -- plan ------------------------------------------------------------------------------
    def plan_teams(
        self, report: StepReport[PlanRow], *, dry_run: bool = False, shard: Shard | None = None
    ) -> None:
        """One archive manifest per removed team whose folder has none yet (not cancelled);
        with `shard`, only the folders whose team_dir hashes to it (filesystem.shards)."""
        shard = shard or Shard()
        with self._lock(shared=not shard.whole):
            self._plan_teams(report, dry_run, shard)

    def _plan_teams(self, report: StepReport[PlanRow], dry_run: bool, shard: Shard) -> None:
        now = self.factory.clock()
        run_id = mf.new_run_id(ns_of(now))
        action_at = now + self.max_lead
        run_dir = self.config.state_dir / "runs" / run_id
        with self.factory.unit_of_work() as svc:
            session = svc.ctx.session
            planned = select(TeamArchive.consortium_id).where(
                TeamArchive.status != ManifestStatus.cancelled.value
            )
            todo = session.execute(
                select(ConsortiumRemoval, Consortium.name)
                .join(Consortium, Consortium.id == ConsortiumRemoval.consortium_id)
                .where(
                    ConsortiumRemoval.team_dir.is_not(None),
                    ConsortiumRemoval.consortium_id.not_in(planned),
                )
                .order_by(ConsortiumRemoval.id)
            ).all()
            removals = [
                (r.consortium_id, str(r.team_dir), r.removed_at, n)
                for r, n in todo
                if shard.holds(str(r.team_dir))
            ]
        rows: list[TeamArchive] = []
        for consortium_id, team_dir, removed_at, name in removals:
            root = self.teams_root / team_dir
            if not root.is_dir() or root.is_symlink():
                report.notes.append(f"team {team_dir}: no folder at {root}; nothing to archive")
                continue
            d = decide_team(team_dir, name, removed_at)
            try:
                header = root_header(
                    d,
                    os.fsencode(root),
                    run_id,
                    ns_of(now),
                    ns_of(action_at),
                    bucket=self.config.archive.bucket,
                    storage_class=self.config.archive.storage_class,
                )
            except OSError as exc:
                report.errors.append(f"team {team_dir}: {exc.strerror}")
                continue
            path = run_dir / f"{team_dir}.{TEAM}.manifest.jsonl"
            writer = mf.ManifestWriter(path, header)
            try:
                stats = plan_root(d, writer, ns_of(now), prefix=self.team_prefix)
            except BaseException:
                writer.abort()
                raise
            if stats.entries == 0 or dry_run:
                writer.abort()
            else:
                writer.close()
            report.manifests.append(
                PlanRow(
                    user=team_dir,
                    area=TEAM,
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
            )
            if dry_run:
                continue
            empty = stats.entries == 0
            rows.append(
                TeamArchive(
                    consortium_id=consortium_id,
                    run_id=0,
                    team_dir=team_dir,
                    path=str(path),
                    digest=writer.digest if not empty else "",
                    entries=stats.entries,
                    files=stats.files,
                    bytes=stats.bytes,
                    # An empty folder has nothing to archive: done at once, no notices.
                    status=(ManifestStatus.done if empty else ManifestStatus.planned).value,
                    created_at=now,
                    action_at=action_at,
                    first_notice_at=None,
                    leads_sent=[],
                    executed_at=now if empty else None,
                    archive_bucket=self.config.archive.bucket,
                    archive_prefix=self.team_prefix,
                    result={"empty": True} if empty else None,
                )
            )
        if not rows:
            return
        with self.factory.unit_of_work() as svc:
            run = PurgeRun(
                run_id=run_id,
                created_at=now,
                actor=self.actor,
                manifest_dir=str(run_dir),
                action_at=action_at,
                summary={"team_manifests": len(rows), "files": sum(r.files for r in rows)},
            )
            svc.ctx.session.add(run)
            svc.ctx.session.flush()
            for r in rows:
                r.run_id = run.id
                svc.ctx.session.add(r)
            svc.audit.record(
                actor=self.actor,
                action="storage.purge.plan-teams",
                target_type="purge",
                target_id=run_id,
                after={"teams": [r.team_dir for r in rows], "files": sum(r.files for r in rows)},
            )

    # -- notify ----------------------------------------------------------------------------
    def notify_teams(self, report: StepReport[NoticeRow], *, dry_run: bool = False) -> None:
        """The due notice of each pending team archive, to everyone who was in the team."""
        with self._lock():
            self._notify_teams(report, dry_run)

    def _notify_teams(self, report: StepReport[NoticeRow], dry_run: bool) -> None:
        now = self.factory.clock()
        with self.factory.unit_of_work() as svc:
            session = svc.ctx.session
            pending = session.execute(
                select(TeamArchive, ConsortiumRemoval, Consortium.name)
                .join(
                    ConsortiumRemoval,
                    ConsortiumRemoval.consortium_id == TeamArchive.consortium_id,
                )
                .join(Consortium, Consortium.id == TeamArchive.consortium_id)
                .where(TeamArchive.status.in_(_PENDING))
                .order_by(TeamArchive.id)
            ).all()
            for row, removal, name in pending:
                floor = (row.first_notice_at or now) + self.max_lead
                act_at = max(row.action_at, floor)
                lead = due_lead(act_at, self.leads, row.leads_sent, now)
                if lead is None:
                    continue
                report.manifests.append(
                    NoticeRow(f"team:{row.team_dir}", row.id, lead, act_at.isoformat())
                )
                if dry_run:
                    continue
                subject, body = self._team_render(row, name, act_at, lead)
                ids = [int(p["user_id"]) for p in removal.people]
                people = session.scalars(select(User).where(User.id.in_(ids))).all()
                delivered = True
                for person in sorted(people, key=lambda u: u.username):
                    if self.sender is not None and self.config.smtp.host:
                        try:
                            to = recipient_for(
                                person.email, person.username, self.config.smtp.recipient_template
                            )
                            self.sender.send(to, subject, body)
                        except (OSError, InvalidRecipientError) as exc:
                            delivered = False
                            report.errors.append(f"{person.username}: e-mail failed: {exc}")
                    svc.notices.post(
                        person,
                        "purge-warning",
                        f"{subject}\n\n{body}",
                        dedupe_key=f"team-archive:{row.id}:{lead}:{person.id}",
                        due_at=act_at,
                    )
                if delivered:
                    row.leads_sent = sorted({*row.leads_sent, lead}, reverse=True)
                    if row.first_notice_at is None:
                        row.first_notice_at = now
                    row.action_at = act_at
                    row.status = ManifestStatus.notified.value

    def _team_render(
        self, row: TeamArchive, name: str, act_at: datetime, lead: int
    ) -> tuple[str, str]:
        days = f"{lead} day{'s' if lead != 1 else ''}"
        subject = f"[Roman Research Nexus] Team folder /teams/{row.team_dir} is archived in {days}"
        body = "\n".join(
            [
                f"Consortium {name} was removed, so its team folder /teams/{row.team_dir} "
                f"({row.files} files, {_human(row.bytes)}) is archived on "
                f"{act_at:%Y-%m-%d %H:%M} UTC and then emptied.",
                "",
                "Until then it stays where it is. Copy anything you need into your home "
                "before that date (your home is not touched by this).",
                "The archive is kept in the platform's archive bucket; ask an administrator "
                "to bring files back from it.",
            ]
        )
        return subject, body

    # -- execute ---------------------------------------------------------------------------
    def execute_teams(self, report: StepReport[ExecuteRow], *, yes: bool = False) -> None:
        """Archive the team folders whose notices are old enough (a dry run unless `yes`)."""
        with self._lock():
            self._execute_teams(report, yes)

    def _execute_teams(self, report: StepReport[ExecuteRow], yes: bool) -> None:
        now = self.factory.clock()
        with self.factory.unit_of_work() as svc:
            ready = [
                self._team_planned(row, run_id)
                for row, run_id in svc.ctx.session.execute(
                    select(TeamArchive, PurgeRun.run_id)
                    .join(PurgeRun, PurgeRun.id == TeamArchive.run_id)
                    .where(TeamArchive.status.in_(_RUNNABLE))
                    .order_by(TeamArchive.id)
                ).all()
                if now >= row.action_at and may_act(row.first_notice_at, self.leads, now)
            ]
        with tempfile.TemporaryDirectory(prefix="nexus-team-purge-") as tmp:
            for p in ready:
                copy = self._team_checked(p, Path(tmp), report)
                if copy is None:
                    continue
                try:
                    archiver = self.archiver()
                    try:
                        outcome: ExecResult | str = execute(
                            copy,
                            FileJournal(p.journal),
                            now_ns=ns_of(now),
                            dry_run=not yes,
                            archiver=archiver,
                        )
                    except (ExecutorError, OSError, mf.ManifestError) as exc:
                        outcome = str(exc)
                    self._team_record(p, copy, outcome, now, yes, report)
                finally:
                    copy.unlink(missing_ok=True)
                    copy.with_suffix(".journal").unlink(missing_ok=True)
        if yes and ready:
            with self.factory.unit_of_work() as svc:
                svc.audit.record(
                    actor=self.actor,
                    action="storage.purge.execute-teams",
                    target_type="purge",
                    target_id=now.isoformat(),
                    after={"teams": [p.user for p in ready]},
                )

    def _team_checked(
        self, p: guard.Planned, work: Path, report: StepReport[ExecuteRow]
    ) -> Path | None:
        """A private copy that is the manifest the row planned, for this team's folder."""
        try:
            copy, digest = guard.private_copy(p.id, p.path, work)
            guard.check_planned(p, copy, digest, self.teams_root / p.user)
            guard.journal_beside(p, copy)
        except (guard.ManifestRefused, mf.ManifestError, OSError) as exc:
            report.errors.append(f"team {p.user} manifest {p.id}: {exc}; not executed")
            return None
        return copy

    def _team_record(
        self,
        p: guard.Planned,
        copy: Path,
        outcome: ExecResult | str,
        now: datetime,
        yes: bool,
        report: StepReport[ExecuteRow],
    ) -> None:
        if isinstance(outcome, str):
            report.errors.append(f"team {p.user} manifest {p.id}: {outcome}")
            return
        res = outcome
        row = ExecuteRow(
            manifest=p.id,
            user=f"team:{p.user}",
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
        report.manifests.append(row)
        if not yes:
            return
        base = f"{p.archive_prefix}{directory_name(p.user)}/{p.run_id}/"
        self.archiver().put_json_lines(base + "manifest.jsonl", copy)
        if p.journal.exists():
            self.archiver().put_json_lines(base + "journal.jsonl", p.journal)
        with self.factory.unit_of_work() as svc:
            m = svc.ctx.session.get(TeamArchive, p.id)
            assert m is not None
            m.status = (ManifestStatus.done if res.complete else ManifestStatus.partial).value
            m.executed_at = now
            m.result = row.as_dict()
