"""`nexus-quota reconcile`: compare open sessions with the hub's servers (a CronJob)."""

from __future__ import annotations

import os
from datetime import timedelta

import click

from ..hubapi import HubApi, HubApiError
from ..jobs.reconcile import ReconcileOptions, reconcile
from .context import CliState, command_body, emit

EXIT_HUB = 4  # the hub could not be reached


def register(cli: click.Group) -> None:
    cli.add_command(reconcile_command)


@click.command("reconcile")
@click.option(
    "--hub-api-url",
    envvar="JUPYTERHUB_API_URL",
    help="the hub's REST API, e.g. http://hub:8081/hub/api (default: settings.hub_api_url)",
)
@click.option(
    "--warn-hours",
    type=float,
    default=1.0,
    show_default=True,
    help="warn this long before a budget or session-length limit",
)
@click.option(
    "--grace-minutes",
    type=float,
    default=15.0,
    show_default=True,
    help="time between the warning and the stop of a server past its limit",
)
@click.option(
    "--orphan-grace-seconds",
    type=float,
    default=120.0,
    show_default=True,
    help="sessions younger than this are never closed as orphans (spawns in flight)",
)
@click.option(
    "--adopt-size",
    default="small",
    show_default=True,
    help="size of servers started fail-open (the hub's fallback_size name); they are adopted: "
    "charged from their start to the person's Entry allocation and held to its limits",
)
@click.option("--no-adopt", is_flag=True, help="only list servers without a session")
@command_body(json=True)
def reconcile_command(
    state: CliState,
    hub_api_url: str | None,
    warn_hours: float,
    grace_minutes: float,
    orphan_grace_seconds: float,
    adopt_size: str,
    no_adopt: bool,
    as_json: bool,
) -> None:
    """Adopt servers started fail-open, close orphaned sessions, charge running ones, warn
    then stop servers past limits.

    The hub token comes from NEXUS_QUOTA_JOBS_TOKEN (the `quota-jobs` service's token), or
    JUPYTERHUB_API_TOKEN. Exit 4 when the hub cannot be reached.
    """
    token = os.environ.get("NEXUS_QUOTA_JOBS_TOKEN") or os.environ.get("JUPYTERHUB_API_TOKEN")
    if not token:
        raise click.UsageError("set NEXUS_QUOTA_JOBS_TOKEN (the quota-jobs service token)")
    options = ReconcileOptions(
        warn_before_hours=warn_hours,
        grace=timedelta(minutes=grace_minutes),
        orphan_grace=timedelta(seconds=orphan_grace_seconds),
        adopt_size=None if no_adopt else adopt_size,
    )
    url = hub_api_url or state.settings.hub_api_url
    try:
        with HubApi(url, token) as hub:
            report = reconcile(state.factory(), hub, options)
    except HubApiError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_HUB) from None
    emit(report.as_dict(), as_json)
