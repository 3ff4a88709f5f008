"""Shared CLI plumbing: building the factory, output, and turning errors into exit codes."""

from __future__ import annotations

import functools
import getpass
import json
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar, cast

import click
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError

from ..config import ConfigError, Settings, load_settings
from ..db import StaleSchemaError, ensure_current
from ..errors import QuotaError
from ..factory import Factory
from ..policy import PolicyError

EXIT_OK = 0
EXIT_REFUSED = 1  # the service refused: not found, conflict, invalid value
EXIT_USAGE = 2  # click's own usage errors
EXIT_CONFIG = 3  # settings, policy or database schema are wrong

F = TypeVar("F", bound=Callable[..., Any])


def _login_name() -> str:
    """The login name, or `uid:<n>` for a uid the image's passwd does not list (pods)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


class CliState:
    def __init__(self, actor: str | None) -> None:
        self.actor = actor or f"cli:{_login_name()}"
        self._settings: Settings | None = None
        self._factory: Factory | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    def factory(self, *, check_schema: bool = True) -> Factory:
        if self._factory is None:
            self._factory = Factory(self.settings)
            if check_schema:
                ensure_current(self._factory.engine)
        return self._factory


def handle_errors(func: F) -> F:
    """Turn known failures into a message on stderr and a documented exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except QuotaError as exc:
            click.echo(f"error: {exc.detail} [{exc.code}]", err=True)
            sys.exit(EXIT_REFUSED)
        except (ConfigError, PolicyError, StaleSchemaError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_CONFIG)
        except OperationalError as exc:
            click.echo(f"error: cannot use the database: {exc.orig}", err=True)
            sys.exit(EXIT_CONFIG)

    return wrapper  # type: ignore[return-value]


def emit(value: Any, as_json: bool) -> None:
    if isinstance(value, BaseModel):
        data: Any = value.model_dump(mode="json")
    elif isinstance(value, list):
        data = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    else:
        data = value
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    else:
        click.echo(_human(data))


def _human(data: Any, indent: int = 0) -> str:
    pad = "  " * indent
    if isinstance(data, dict):
        lines = []
        for key, val in data.items():
            if isinstance(val, dict | list) and val:
                lines.append(f"{pad}{key}:")
                lines.append(_human(val, indent + 1))
            else:
                lines.append(f"{pad}{key}: {val}")
        return "\n".join(lines)
    if isinstance(data, list):
        if not data:
            return f"{pad}(none)"
        return "\n".join(
            _human(item, indent) + ("\n" + pad + "-" if isinstance(item, dict) else "")
            for item in data
        )
    return f"{pad}{data}"


pass_state = click.make_pass_decorator(CliState)

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="print JSON")


def command_body(*, json: bool = False) -> Callable[[F], F]:
    """The stack every command's function shares, placed right above its ``def``: the CLI
    state as the first argument (`pass_state`), known failures as documented exit codes
    (`handle_errors`) and, with `json`, the ``--json`` flag as the `as_json` argument (after
    the command's other options in ``--help``)."""

    def decorate(func: F) -> F:
        wrapped = pass_state(handle_errors(func))
        return cast(F, JSON_OPTION(wrapped) if json else wrapped)

    return decorate


# The budget options of grant, requests approve and consortium create: option → API model field.
_BUDGET_FIELDS = {
    "cpu_hours": "cpu_hours",
    "home_soft_gib": "home_quota_soft_gib",
    "home_hard_gib": "home_quota_hard_gib",
    "term_days": "term_days",
}

Budget = dict[str, float | int | None]


def budget_options(
    *, required: bool = False, cpu_help: str | None = None, term_help: str | None = None
) -> Callable[[F], F]:
    """``--cpu-hours``, ``--home-soft-gib``, ``--home-hard-gib`` and ``--term-days``, in that
    order in ``--help``, handed to the command as one `budget` argument: a `Budget` keyed by the
    API models' field names (None where an option is not given)."""
    options = (
        click.option("--cpu-hours", type=float, required=required, help=cpu_help),
        click.option("--home-soft-gib", type=float, required=required),
        click.option("--home-hard-gib", type=float, required=required),
        click.option("--term-days", type=int, required=required, help=term_help),
    )

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            budget = {field: kwargs.pop(option) for option, field in _BUDGET_FIELDS.items()}
            return func(*args, budget=budget, **kwargs)

        # Applied last to first, as stacked decorators are, so --help lists them in order.
        decorated: Callable[..., Any] = wrapper
        for option in reversed(options):
            decorated = option(decorated)
        return cast(F, decorated)

    return decorate
