"""Entry point of `nexus-quota`: db, serve, users, allocations, requests, consortia, jobs."""

from __future__ import annotations

import importlib
import os
import pkgutil
import tempfile
from datetime import datetime
from typing import Any, TypeVar

import click
from pydantic import BaseModel

from hub_config.validation import error_lines

from ..models.v1 import ApproveIn, ExtendIn, GrantIn
from ..schema import RequestStatus
from ..services.base import Actor
from .context import Budget, CliState, budget_options, command_body, emit


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--actor", envvar="NEXUS_QUOTA_ACTOR", help="who to record in the audit log")
@click.pass_context
def cli(ctx: click.Context, actor: str | None) -> None:
    """Roman Research Nexus quota service: jobs and admin actions.

    Settings come from NEXUS_QUOTA_* variables and the YAML file in NEXUS_QUOTA_CONFIG.
    Exit codes: 0 ok, 1 refused (not found, conflict, invalid), 2 usage, 3 configuration.
    """
    ctx.obj = CliState(actor)


# -- database -----------------------------------------------------------------------------
@cli.group()
def db() -> None:
    """Database schema (alembic migrations)."""


@db.command("upgrade")
@command_body()
def db_upgrade(state: CliState) -> None:
    """Migrate the database to the newest schema."""
    from ..db import upgrade

    upgrade(state.settings.database_url)
    click.echo("database schema is up to date")


@db.command("check")
@command_body()
def db_check(state: CliState) -> None:
    """Exit non-zero unless the database is at the newest schema."""
    from ..db import ensure_current, make_engine

    head = ensure_current(make_engine(state.settings.database_url))
    click.echo(f"database schema is at {head}")


# -- serve --------------------------------------------------------------------------------
@cli.command()
@click.option("--host", default=None, help="bind address (default: settings.bind_host)")
@click.option("--port", default=None, type=int, help="port (default: settings.bind_port)")
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(1, 32),
    help="service processes (default: settings.workers)",
)
@command_body()
def serve(state: CliState, host: str | None, port: int | None, workers: int | None) -> None:
    """Run the HTTP service (the API and the pages)."""
    import uvicorn

    from ..app import create_app

    settings = state.settings
    workers = workers or settings.workers
    options: dict[str, Any] = {
        "host": host or settings.bind_host,
        "port": port or settings.bind_port,
        "log_level": "info",
        "access_log": False,
        "proxy_headers": True,
    }
    if workers == 1:
        uvicorn.run(create_app(settings), **options)
        return
    # Several processes: each builds its app from the same environment, and they share one
    # directory of Prometheus samples so /metrics adds them up.
    with tempfile.TemporaryDirectory(prefix="nexus-quota-metrics-") as metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        uvicorn.run("quota_service.app:create_app", factory=True, workers=workers, **options)


# -- people and allocations -------------------------------------------------------------
@cli.group()
def users() -> None:
    """Look people up."""


@users.command("show")
@click.argument("username")
@command_body(json=True)
def users_show(state: CliState, username: str, as_json: bool) -> None:
    """Show a person's allocations, usage, storage and requests."""
    with state.factory().unit_of_work() as svc:
        svc.users.get(username)
        emit(svc.users.me(username), as_json)


@cli.command()
@click.argument("username")
@click.argument("tier", type=click.Choice(["entry", "research"]))
@budget_options(cpu_help="budget (default: the tier's)", term_help="term (default: the tier's)")
@click.option("--reason", required=True, help="recorded in the audit log")
@command_body(json=True)
def grant(
    state: CliState,
    username: str,
    tier: str,
    budget: Budget,
    reason: str,
    as_json: bool,
) -> None:
    """Grant USERNAME a personal allocation of TIER."""
    data = _model(GrantIn, username=username, tier=tier, **budget, reason=reason)
    with state.factory().unit_of_work() as svc:
        emit(svc.allocations.grant(state.actor, data), as_json)


@cli.command()
@click.argument("allocation_id", type=int)
@click.option("--days", type=int, required=True, help="days to add to the end date")
@click.option("--cpu-hours", type=float, help="CPU-hours to add to the budget")
@click.option("--reason", required=True)
@command_body(json=True)
def extend(
    state: CliState,
    allocation_id: int,
    days: int,
    cpu_hours: float | None,
    reason: str,
    as_json: bool,
) -> None:
    """Extend an allocation's end date (and optionally its budget)."""
    data = _model(ExtendIn, days=days, cpu_hours=cpu_hours, reason=reason)
    with state.factory().unit_of_work() as svc:
        emit(svc.allocations.extend(state.actor, allocation_id, data), as_json)


@cli.command()
@click.argument("allocation_id", type=int)
@click.option("--reason", required=True)
@command_body(json=True)
def revoke(state: CliState, allocation_id: int, reason: str, as_json: bool) -> None:
    """Revoke an allocation (its owners fall back to Entry)."""
    with state.factory().unit_of_work() as svc:
        emit(svc.allocations.revoke(state.actor, allocation_id, reason), as_json)


# -- requests -----------------------------------------------------------------------------
@cli.group()
def requests() -> None:
    """Upgrade and renewal requests."""


@requests.command("list")
@click.option("--status", type=click.Choice([s.value for s in RequestStatus]))
@command_body(json=True)
def requests_list(state: CliState, status: str | None, as_json: bool) -> None:
    """List requests (all, or by status)."""
    with state.factory().unit_of_work() as svc:
        emit(svc.requests.list_all(RequestStatus(status) if status else None), as_json)


@requests.command("approve")
@click.argument("request_id", type=int)
@budget_options()
@click.option("--consortium-name")
@click.option("--note")
@command_body(json=True)
def requests_approve(
    state: CliState,
    request_id: int,
    budget: Budget,
    consortium_name: str | None,
    note: str | None,
    as_json: bool,
) -> None:
    """Approve a pending request (tier defaults unless overridden)."""
    data = _model(ApproveIn, **budget, consortium_name=consortium_name, note=note)
    with state.factory().unit_of_work() as svc:
        emit(svc.requests.approve(state.actor, request_id, data), as_json)


@requests.command("deny")
@click.argument("request_id", type=int)
@click.option("--note", required=True, help="why; the requester sees it")
@command_body(json=True)
def requests_deny(state: CliState, request_id: int, note: str, as_json: bool) -> None:
    """Deny a pending request with a note."""
    if not note.strip():
        raise click.UsageError("--note must say why")
    with state.factory().unit_of_work() as svc:
        emit(svc.requests.deny(state.actor, request_id, note), as_json)


# -- consortia ----------------------------------------------------------------------------
@cli.group()
def consortium() -> None:
    """Consortium pools and their members."""


@consortium.command("create")
@click.argument("name")
@budget_options(required=True)
@click.option("--lead", "leads", multiple=True, required=True, help="a lead (repeatable)")
@click.option("--proposal-ref")
@click.option("--reason", default="consortium created")
@command_body(json=True)
def consortium_create(
    state: CliState,
    name: str,
    budget: Budget,
    leads: tuple[str, ...],
    proposal_ref: str | None,
    reason: str,
    as_json: bool,
) -> None:
    """Create a consortium pool with its leads."""
    from ..models.v1 import ConsortiumIn

    data = _model(
        ConsortiumIn,
        name=name,
        proposal_ref=proposal_ref,
        **budget,
        leads=list(leads),
        reason=reason,
    )
    with state.factory().unit_of_work() as svc:
        emit(
            svc.consortia.create(
                state.actor,
                name=data.name,
                proposal_ref=data.proposal_ref,
                cpu_hours=data.cpu_hours,
                home_quota_soft_gib=data.home_quota_soft_gib,
                home_quota_hard_gib=data.home_quota_hard_gib,
                term_days=data.term_days,
                leads=data.leads,
                reason=data.reason,
            ),
            as_json,
        )


@consortium.command("add-member")
@click.argument("name")
@click.argument("username")
@click.option("--role", type=click.Choice(["member", "lead"]), default="member")
@click.option("--share", type=float, default=0.0, help="CPU-hours of the pool for this member")
@command_body(json=True)
def consortium_add_member(
    state: CliState, name: str, username: str, role: str, share: float, as_json: bool
) -> None:
    """Add USERNAME to consortium NAME."""
    if share < 0:
        raise click.BadParameter("the share cannot be negative", param_hint="--share")
    with state.factory().unit_of_work() as svc:
        consortium_id = svc.consortia.by_name(name).id
        operator = Actor(state.actor, is_admin=True)  # whoever holds the database's keys
        emit(svc.consortia.add_member(operator, consortium_id, username, role, share), as_json)


@consortium.command("set-share")
@click.argument("name")
@click.argument("username")
@click.argument("share", type=float)
@command_body(json=True)
def consortium_set_share(
    state: CliState, name: str, username: str, share: float, as_json: bool
) -> None:
    """Set USERNAME's share of consortium NAME's pool, in CPU-hours."""
    if share < 0:
        raise click.BadParameter("the share cannot be negative", param_hint="SHARE")
    with state.factory().unit_of_work() as svc:
        consortium_id = svc.consortia.by_name(name).id
        operator = Actor(state.actor, is_admin=True)
        emit(svc.consortia.set_share(operator, consortium_id, username, share), as_json)


@consortium.command("remove")
@click.argument("name")
@click.option("--reason", required=True, help="why; the audit log and the notices keep it")
@command_body(json=True)
def consortium_remove(state: CliState, name: str, reason: str, as_json: bool) -> None:
    """Remove consortium NAME: revoke its pool and shares, end its members' access to the team
    folder from their next start (nothing is deleted now), and leave the folder to the purge
    pipeline (plan, notices, archive)."""
    from ..services.team_lifecycle import ConsortiumRemovalService

    if not reason.strip():
        raise click.UsageError("--reason must say why")
    with state.factory().unit_of_work() as svc:
        consortium_id = svc.consortia.by_name(name).id
        emit(ConsortiumRemovalService(svc.ctx).remove(state.actor, consortium_id, reason), as_json)


# -- reports and jobs ---------------------------------------------------------------------
@cli.command()
@click.option("--since", type=click.DateTime(), help="from (UTC)")
@click.option("--until", type=click.DateTime(), help="until (UTC)")
@command_body(json=True)
def report(state: CliState, since: datetime | None, until: datetime | None, as_json: bool) -> None:
    """CPU-hours and estimated cost by tier and by allocation."""
    from datetime import UTC

    with state.factory().unit_of_work() as svc:
        emit(
            svc.reports.usage(
                since.replace(tzinfo=UTC) if since else None,
                until.replace(tzinfo=UTC) if until else None,
            ),
            as_json,
        )


@cli.command()
@command_body(json=True)
def expire(state: CliState, as_json: bool) -> None:
    """End allocations past their end date; warn people ahead of time (idempotent)."""
    with state.factory().unit_of_work() as svc:
        result = svc.allocations.expire(actor=state.actor)
    emit(
        {
            "activated": result.activated,
            "expired": result.expired,
            "warned": [{"allocation": a, "days": d} for a, d in result.warned],
        },
        as_json,
    )


ModelT = TypeVar("ModelT", bound=BaseModel)


def _model(cls: type[ModelT], **values: object) -> ModelT:
    """Validate CLI input with the API's models, as a usage error if it is wrong."""
    from pydantic import ValidationError

    try:
        return cls(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        raise click.UsageError("; ".join(error_lines(exc, show_input=False))) from None


def _register_plugins() -> None:
    """Add commands from other modules in this package that define `register(cli)`."""
    from .. import cli as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name in ("main", "context"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(cli)


_register_plugins()


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
