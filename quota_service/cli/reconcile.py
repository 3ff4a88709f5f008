"""`nexus-quota reconcile`: compare open sessions with the hub's servers (a CronJob)."""

from __future__ import annotations

import click

from ..config import ReconcileSettings
from ..hubapi import HubApi, HubApiError
from ..jobs.reconcile import ReconcileOptions, reconcile
from .context import CliState, command_body, emit

EXIT_HUB = 4  # the hub could not be reached


def register(cli: click.Group) -> None:
    cli.add_command(reconcile_command)


def _setting(name: str) -> str:
    """The help text's default: the setting's name, value and description."""
    info = ReconcileSettings.model_fields[name]
    return f"{info.description} [default: setting reconcile.{name}, {info.default}]"


def reconcile_options(
    settings: ReconcileSettings, *, adopt: bool = True, **given: float | str | None
) -> ReconcileOptions:
    """The run's thresholds: each option given wins over its setting."""
    merged = settings.model_copy(update={k: v for k, v in given.items() if v is not None})
    return ReconcileOptions.from_settings(merged, adopt=adopt)


@click.command("reconcile")
@click.option(
    "--hub-api-url",
    help="the hub's REST API, e.g. http://hub:8081/hub/api (default: setting hub_api_url)",
)
@click.option("--warn-hours", type=float, help=_setting("warn_hours"))
@click.option("--grace-minutes", type=float, help=_setting("grace_minutes"))
@click.option("--orphan-grace-seconds", type=float, help=_setting("orphan_grace_seconds"))
@click.option("--adopt-size", help=_setting("adopt_size"))
@click.option("--no-adopt", is_flag=True, help="only list servers without a session")
@command_body(json=True)
def reconcile_command(
    state: CliState,
    hub_api_url: str | None,
    warn_hours: float | None,
    grace_minutes: float | None,
    orphan_grace_seconds: float | None,
    adopt_size: str | None,
    no_adopt: bool,
    as_json: bool,
) -> None:
    """Adopt servers started fail-open, close orphaned sessions, charge running ones, warn
    then stop servers past limits.

    The hub token is the setting jobs_token: NEXUS_QUOTA_JOBS_TOKEN (the `quota-jobs`
    service's token), or JUPYTERHUB_API_TOKEN. Exit 4 when the hub cannot be reached.
    """
    settings = state.settings
    if settings.jobs_token is None:
        raise click.UsageError("set NEXUS_QUOTA_JOBS_TOKEN (the quota-jobs service token)")
    options = reconcile_options(
        settings.reconcile,
        warn_hours=warn_hours,
        grace_minutes=grace_minutes,
        orphan_grace_seconds=orphan_grace_seconds,
        adopt_size=adopt_size,
        adopt=not no_adopt,
    )
    url = hub_api_url or settings.hub_api_url
    try:
        with HubApi(url, settings.jobs_token.get_secret_value()) as hub:
            report = reconcile(state.factory(), hub, options)
    except HubApiError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_HUB) from None
    emit(report.as_dict(), as_json)
