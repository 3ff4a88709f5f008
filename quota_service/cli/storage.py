"""`nexus-quota scan` and `nexus-quota purge plan|notify|execute|restore|show` (CronJobs, make dev).

Exit codes (besides the shared ones: 0 ok, 1 refused, 2 usage, 3 configuration):
  5  partial: some roots could not be scanned, or some purge steps failed; a rerun finishes them.
Files *kept* because they changed since the plan are not failures: they are the safety rule.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..filesystem.scanner import RootUsage
from ..filesystem.shards import INDEX_ENV, Shard
from ..jobs.purge import PurgeService
from ..jobs.results import R, StepReport
from ..jobs.scan_shards import combine
from .context import CliState, command_body, emit

EXIT_PARTIAL = 5

STATE_DIR_OPTION = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="where manifests and journals live [default: setting storage_state_dir, from "
    "NEXUS_STORAGE_STATE_DIR; .state/purge]",
)
USER_OPTION = click.option(
    "--user", "users", multiple=True, help="only this user (repeatable; default: everyone)"
)


SHARD_INDEX_OPTION = click.option(
    "--shard-index",
    type=click.IntRange(min=0),
    envvar=INDEX_ENV,
    help="this pod's shard [default: $JOB_COMPLETION_INDEX, set in Indexed Job pods; else 0]",
)
SHARD_COUNT_OPTION = click.option(
    "--shard-count",
    type=click.IntRange(min=1, max=1000),
    help="how many shards the storage root is split into (sha256 of the directory name mod "
    "this) [default: setting storage_shards, 1]",
)


def _shard(state: CliState, index: int | None, count: int | None) -> Shard:
    default = state.factory().settings.storage_shards if count is None else count
    try:
        return Shard.resolve(index, count, default)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def register(cli: click.Group) -> None:
    cli.add_command(scan)
    cli.add_command(purge)


def _purge_service(state: CliState, state_dir: Path | None) -> PurgeService:
    actor = state.actor if not state.actor.startswith("cli:") else "job:purge"
    return state.factory().purge_job(state_dir=state_dir, actor=actor, mail=True)


def _finish(report: StepReport[R], as_json: bool) -> None:
    emit(report.as_dict(), as_json)
    if report.partial and not report.dry_run:
        sys.exit(EXIT_PARTIAL)


@click.command()
@click.option("--workers", type=int, help="scanner processes (default: one per CPU)")
@click.option(
    "--threads",
    type=click.IntRange(min=1, max=256),
    help="scan this many directories at once on threads of one process instead of worker "
    "processes (for EFS, where each stat waits on the server) [default: setting scan_threads]",
)
@click.option(
    "--metrics-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write Prometheus gauges here (textfile-collector format)",
)
@click.option(
    "--progress/--no-progress", default=None, help="progress bar (default: when on a terminal)"
)
@SHARD_INDEX_OPTION
@SHARD_COUNT_OPTION
@click.option(
    "--run-id",
    envvar="NEXUS_SCAN_RUN_ID",
    help="the run the shards belong to (the Indexed Job's name; required with more than one "
    "shard) [env NEXUS_SCAN_RUN_ID]",
)
@click.option(
    "--combine",
    "combine_only",
    is_flag=True,
    help="scan nothing: mark --run-id complete if all its shards are recorded",
)
@command_body(json=True)
def scan(
    state: CliState,
    workers: int | None,
    threads: int | None,
    metrics_file: Path | None,
    progress: bool | None,
    shard_index: int | None,
    shard_count: int | None,
    run_id: str | None,
    combine_only: bool,
    as_json: bool,
) -> None:
    """Measure every user's home and scratch and every team folder (or one shard of them);
    store snapshots; flag users over quota.

    Never follows symlinks and never leaves the file system of each user's directory.
    Exit 0 when every directory was scanned, 5 when some could not be opened (the rest are
    recorded).
    """
    shard = _shard(state, shard_index, shard_count)
    if threads is None:
        threads = state.factory().settings.scan_threads
    if (not shard.whole or combine_only) and not run_id:
        raise click.UsageError("--run-id (or NEXUS_SCAN_RUN_ID) is required with shards")
    if combine_only:
        assert run_id is not None
        done = combine(state.factory(), run_id, shard.count)
        emit(done.as_dict(), as_json)
        if not done.complete:
            sys.exit(EXIT_PARTIAL)
        return
    service = state.factory().scan_job()
    show = sys.stderr.isatty() if progress is None else progress
    if show:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("scanning", total=None)

            def tick(usage: RootUsage) -> None:
                bar.update(task, advance=1, description=f"scanned {usage.user} {usage.area}")

            report = service.scan(
                workers=workers,
                progress=tick,
                metrics_file=metrics_file,
                shard=shard,
                run_id=run_id,
                threads=threads,
            )
    else:
        report = service.scan(
            workers=workers, metrics_file=metrics_file, shard=shard, run_id=run_id, threads=threads
        )
    data: dict[str, Any] = report.as_dict()
    emit(data, as_json)
    if report.errors:
        sys.exit(EXIT_PARTIAL)


@click.group()
def purge() -> None:
    """The purge pipeline: plan → notify → execute (→ restore). See docs/storage.md.

    Each step is safe to rerun. Nothing is executed without a notice sent at least the longest
    notice lead time (policy `notices.lead_days`, 7 days by default) earlier.
    """


@purge.command("plan")
@USER_OPTION
@click.option("--dry-run", is_flag=True, help="show what would be planned; write nothing")
@STATE_DIR_OPTION
@SHARD_INDEX_OPTION
@SHARD_COUNT_OPTION
@click.option(
    "--run-id",
    envvar="NEXUS_PURGE_RUN_ID",
    help="the sharded run (the Indexed Job's name; required with more than one shard); each "
    "shard's manifests go to run <run-id>-s<index> [env NEXUS_PURGE_RUN_ID]",
)
@command_body(json=True)
def purge_plan(
    state: CliState,
    users: tuple[str, ...],
    dry_run: bool,
    state_dir: Path | None,
    shard_index: int | None,
    shard_count: int | None,
    run_id: str | None,
    as_json: bool,
) -> None:
    """Decide per tier policy and write a manifest per user: the exact files, and why.

    Users who already have a pending manifest for an area get no new one for it. With shards,
    each pod plans the users (and removed teams' folders) whose directory name hashes to it.
    """
    shard = _shard(state, shard_index, shard_count)
    if not shard.whole and not run_id:
        raise click.UsageError("--run-id (or NEXUS_PURGE_RUN_ID) is required with shards")
    report = _purge_service(state, state_dir).plan(
        users=list(users) or None, dry_run=dry_run, shard=shard, run_id=run_id
    )
    _finish(report, as_json)


@purge.command("notify")
@click.option("--dry-run", is_flag=True, help="show which notices are due; send nothing")
@STATE_DIR_OPTION
@command_body(json=True)
def purge_notify(state: CliState, dry_run: bool, state_dir: Path | None, as_json: bool) -> None:
    """Send the notices that are due (e-mail over SMTP when configured, and in the app).

    Exit 5 when an e-mail could not be sent (that notice is retried on the next run, and the
    purge it announces waits for it).
    """
    _finish(_purge_service(state, state_dir).notify(dry_run=dry_run), as_json)


@purge.command("execute")
@click.option("--yes", is_flag=True, help="really act; without it this is a dry run")
@USER_OPTION
@STATE_DIR_OPTION
@command_body(json=True)
def purge_execute(
    state: CliState, yes: bool, users: tuple[str, ...], state_dir: Path | None, as_json: bool
) -> None:
    """Carry out the manifests whose notice lead time has passed (dry run unless --yes).

    Every file is re-checked just before it is touched; changed files are kept. Archives are
    verified (size and SHA-256) before a local file is removed. Exit 5 when some steps failed;
    a rerun finishes them without redoing verified steps.
    """
    _finish(_purge_service(state, state_dir).execute(yes=yes, users=list(users) or None), as_json)


@purge.command("restore")
@click.argument("username")
@STATE_DIR_OPTION
@command_body(json=True)
def purge_restore(state: CliState, username: str, state_dir: Path | None, as_json: bool) -> None:
    """Bring back everything archived from USERNAME's home, with its times and modes.

    Never overwrites: a different file already at a path is kept and the restored copy is put
    beside it as NAME.restored-RUNID. Exit 1 when there is nothing to restore.
    """
    report = _purge_service(state, state_dir).restore(username)
    _finish(report, as_json)
    if any(m.failed for m in report.manifests):
        sys.exit(EXIT_PARTIAL)


@purge.command("show")
@click.argument("username")
@click.option("--manifest", "manifest_id", type=int, help="list this manifest's entries")
@click.option("--offset", type=int, default=0, show_default=True)
@click.option("--limit", type=int, default=100, show_default=True)
@STATE_DIR_OPTION
@command_body(json=True)
def purge_show(
    state: CliState,
    username: str,
    manifest_id: int | None,
    offset: int,
    limit: int,
    state_dir: Path | None,
    as_json: bool,
) -> None:
    """Show USERNAME's purge manifests, or one manifest's entries and their states."""
    service = _purge_service(state, state_dir)
    if manifest_id is None:
        emit(service.manifests_for(username), as_json)
    else:
        emit(service.manifest_entries(username, manifest_id, offset, limit), as_json)
