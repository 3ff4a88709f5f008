"""The purge pipeline: plan → notify → (grace) → execute → restore, as jobs.

Each step is a method that owns its transactions (``Factory.unit_of_work``) and leaves an audit
record. File-system work happens between transactions, never inside one.

- ``plan`` (jobs/purge_plan.py) decides per user (``filesystem.planner.decide``), walks the
  chosen roots and writes one manifest per user and area under ``<state_dir>/runs/<run id>/``.
  A user with a manifest still pending for an area gets no new one for it: its notices are
  already counting down.
- ``notify`` (jobs/purge_notify.py) sends each pending manifest's notices as they fall due (by
  e-mail when SMTP is configured, and in the app). The action time is pushed back when needed
  so that it is always at least the longest lead (7 days by default) after the first notice
  actually sent.
- ``execute`` (jobs/purge_execute.py) acts only on manifests whose first notice is that old,
  and whose action time has come; it is a dry run unless ``yes``. A manifest that ended with
  errors is ``partial`` and the next run finishes it (the journal skips every step already
  done).
- ``restore`` (jobs/restore.py) brings back a user's archived home; ``restore_if_archived`` is
  what the login path calls.
- ``manifests_for`` and ``manifest_entries`` (jobs/purge_listings.py): what people see.
- the folders of removed teams (jobs/team_purge.py) go through plan, notify and execute too.
"""

from __future__ import annotations

from ..filesystem.shards import Shard
from .purge_common import ARCHIVE_REASONS, WHOLE_HOME, PurgeJobBase, StorageConfig
from .purge_execute import ExecuteStep
from .purge_listings import ListingsStep
from .purge_notify import NotifyStep
from .purge_plan import PlanStep
from .restore import RestoreStep
from .results import ExecuteRow, NoticeRow, PlanRow, StepReport
from .team_purge import TeamPurgeStep

__all__ = ["ARCHIVE_REASONS", "WHOLE_HOME", "PurgeService", "StepReport", "StorageConfig"]


class PurgeService(
    PlanStep, NotifyStep, ExecuteStep, RestoreStep, ListingsStep, TeamPurgeStep, PurgeJobBase
):
    """Every purge step on one state directory, archive and mailer. `plan`, `notify` and
    `execute` cover the folders of removed teams too (jobs/team_purge.py), after the people's
    manifests, unless the run names users."""

    def plan(
        self,
        *,
        users: list[str] | None = None,
        dry_run: bool = False,
        shard: Shard | None = None,
        run_id: str | None = None,
    ) -> StepReport[PlanRow]:
        """`shard`: only the users and removed teams' folders whose directory name hashes to
        it (filesystem.shards); `run_id` names the sharded run (each shard plans into
        `<run_id>-s<index>`)."""
        report = PlanStep.plan(self, users=users, dry_run=dry_run, shard=shard, run_id=run_id)
        if not users:
            self.plan_teams(report, dry_run=dry_run, shard=shard)
        return report

    def notify(self, *, dry_run: bool = False) -> StepReport[NoticeRow]:
        report = NotifyStep.notify(self, dry_run=dry_run)
        self.notify_teams(report, dry_run=dry_run)
        return report

    def execute(
        self, *, yes: bool = False, users: list[str] | None = None
    ) -> StepReport[ExecuteRow]:
        report = ExecuteStep.execute(self, yes=yes, users=users)
        if not users:
            self.execute_teams(report, yes=yes)
        return report
