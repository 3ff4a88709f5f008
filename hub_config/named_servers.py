"""Named servers: the name rule, the per-person limit the quota service sets, and the home
page's list of servers with their size, allocation and cost so far.

JupyterHub 5.5.4 calls `named_server_limit_per_user` (when it is callable) with the request
handler, awaiting what it returns, in four places: the API's server create
(`POST /hub/api/users/<name>/servers/<server>`), the spawn page (`GET /hub/spawn/<name>/
<server>`), the home page and the admin page. The first two call it only for a named server,
before the server record exists, so `NamedServerLimit` is also where a bad name is refused
with a 400: nothing is left behind. (The spawn form's POST creates the record without asking
it; the spawn hook refuses a bad name there: `hook.py`, with the rule of `server_names.py`.)
JupyterHub counts the named servers a person has, running or not; 0 or less means no limit,
so the smallest limit given is 1.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from tornado import web

from .hook import QuotaSpawnHook, Shared
from .quota_client import Entitlements, QuotaRequestError, QuotaUnavailable, RunningServers
from .server_names import SERVER_NAME_MAX, SERVER_NAME_RULE, check_server_name, refusal_message

__all__ = [
    "FALLBACK_LIMIT",
    "SERVER_NAME_MAX",
    "SERVER_NAME_RULE",
    "NamedServerLimit",
    "ServerBoard",
    "check_server_name",
    "configure_named_servers",
    "limit_from",
]

log = logging.getLogger(__name__)

# The limit while the quota service cannot say (no answer seen for this person yet): one named
# server, what the Entry tier allows. Spawns themselves follow the hook's fail mode.
FALLBACK_LIMIT = 1


def bad_name_error(name: str, reason: str) -> web.HTTPError:
    message = refusal_message(name, reason)
    error = web.HTTPError(400, "%s", message)
    error.jupyterhub_message = message  # type: ignore[attr-defined]
    return error


def limit_from(ent: Entitlements) -> int:
    """The most named servers a person may have: the largest `max_concurrent_servers` of the
    allocations they can start servers on now (those the quota service offers sizes for)."""
    usable = {i for size in ent.sizes for i in size.allocation_ids}
    most = max(
        (a.max_concurrent_servers for a in ent.allocations if a.id in usable),
        default=FALLBACK_LIMIT,
    )
    return max(most, 1)


def _target(handler: Any) -> tuple[str | None, str]:
    """(username, server name) a handler acts on: its URL's for the API's server create and
    the spawn page, else the signed-in person's (home and admin pages)."""
    args = [a for a in (getattr(handler, "path_args", None) or []) if isinstance(a, str)]
    if args:
        return args[0], args[1] if len(args) > 1 else ""
    user = getattr(handler, "current_user", None)
    return (getattr(user, "name", None), "")


class NamedServerLimit(Shared):
    """`JupyterHub.named_server_limit_per_user`: asks the quota service for the person's
    entitlements. Unreachable (or refusing): the last limit seen for that person in this hub
    process, else `FALLBACK_LIMIT`; it never fails the page that asks."""

    def __init__(self, hook: QuotaSpawnHook) -> None:
        self.hook = hook
        self._last: dict[str, int] = {}

    async def __call__(self, handler: Any) -> int:
        username, server_name = _target(handler)
        reason = check_server_name(server_name)
        if reason is not None:
            raise bad_name_error(server_name, reason)
        if not username:
            return FALLBACK_LIMIT
        return await self.limit(username)

    async def limit(self, username: str) -> int:
        try:
            ent = await self.hook.client.entitlements(username)
        except QuotaUnavailable as exc:
            self.hook.unreachable("named_server_limit", exc)
            return self._last.get(username, FALLBACK_LIMIT)
        except QuotaRequestError as exc:
            log.warning("named server limit of %s: %s", username, exc)
            return self._last.get(username, FALLBACK_LIMIT)
        self._last[username] = limit = limit_from(ent)
        return limit


@dataclass(frozen=True)
class ServerRow:
    """One row of the home page's server list; every value is text for the template."""

    name: str
    label: str
    status: str
    url: str
    size: str
    allocation: str
    cost: str
    rate: str
    # Raw figures for scripts and tests: ISO start time and CPU-hours so far ("" if none).
    started_at: str = ""
    cpu_hours: str = ""


def _status(spawner: Any) -> str:
    """What the hub says of a server: its wrapper (`Spawner`) when loaded, else the ORM row."""
    if spawner is None:
        return "stopped"
    if getattr(spawner, "ready", False):
        return "running"
    pending = getattr(spawner, "pending", None)
    if pending:
        return f"{pending} pending"
    return "stopped"


def server_rows(user: Any, running: RunningServers | None) -> list[ServerRow]:
    """The person's servers (default first, then named by name) joined with their open
    sessions: size, allocation, CPU-hours so far. `running` None: the quota service is
    unreachable, so costs are unknown. A session the hub no longer shows a server for (the
    reconciler closes it soon) is listed too: it is still being charged."""
    hub = {s.name: s for s in user.all_spawners(include_default=True)}
    sessions = {s.server_name: s for s in (running.servers if running else [])}
    rows = []
    for name in sorted({""} | set(hub) | set(sessions)):
        session = sessions.get(name)
        status = _status(hub.get(name))
        if session is not None:
            if status == "stopped":  # the reconciler closes (and charges) it on its next run
                status = "stopped; its session is still open"
            size = f"{session.size_display_name} ({session.size})"
            allocation = f"{session.allocation_label} ({session.tier})"
            cost = f"{session.cpu_hours_so_far:,.2f} CPU-hours"
            rate = f"{session.cpu_hours_per_hour:g} CPU-hours per hour"
        else:
            size = allocation = rate = cost = "—"
            if running is None and status != "stopped":
                cost = "unknown (quota service unreachable)"
        rows.append(
            ServerRow(
                name=name,
                label=name or "(default)",
                status=status,
                url=user.server_url(name),
                size=size,
                allocation=allocation,
                cost=cost,
                rate=rate,
                started_at=session.started_at.isoformat() if session else "",
                cpu_hours=repr(session.cpu_hours_so_far) if session else "",
            )
        )
    return rows


class ServerList:
    """The home page's list for one person: `await`ed by the template (Jinja's async mode
    awaits a call's result), so it asks the quota service while the page renders."""

    def __init__(self, hook: QuotaSpawnHook, user: Any) -> None:
        self.hook = hook
        self.user = user
        self.unavailable = False
        self.name_rule = SERVER_NAME_RULE
        self.name_max = SERVER_NAME_MAX
        self.as_of = ""

    async def rows(self) -> list[ServerRow]:
        running: RunningServers | None = None
        try:
            running = await self.hook.client.running_servers(self.user.name)
        except (QuotaUnavailable, QuotaRequestError) as exc:
            log.warning("running servers of %s unknown: %s", self.user.name, exc)
            self.unavailable = True
        else:
            self.as_of = running.as_of.isoformat()
        return server_rows(self.user, running)


class ServerBoard(Shared):
    """A `template_vars` callable: the signed-in person's `ServerList` (None signed out)."""

    def __init__(self, hook: QuotaSpawnHook) -> None:
        self.hook = hook

    def __call__(self, user: Any) -> ServerList | None:
        if user is None or not hasattr(user, "all_spawners"):
            return None
        return ServerList(self.hook, user)


def configure_named_servers(c: Any, hook: QuotaSpawnHook) -> NamedServerLimit:
    """Named servers on (unless configured off, e.g. the chart's `hub.allowNamedServers`),
    their limit from the quota service, the name rule, and the home page's server list."""
    if "allow_named_servers" not in c.JupyterHub:
        c.JupyterHub.allow_named_servers = True
    configured = c.JupyterHub.get("named_server_limit_per_user")
    if configured is not None and not isinstance(configured, NamedServerLimit):
        log.warning(
            "named_server_limit_per_user=%r is replaced by the quota service's limit", configured
        )
    limit = NamedServerLimit(hook)
    c.JupyterHub.named_server_limit_per_user = limit
    template_vars = dict(c.JupyterHub.get("template_vars") or {})
    template_vars["nexus_servers"] = ServerBoard(hook)
    c.JupyterHub.template_vars = template_vars
    return limit
