"""Reconcile open quota sessions with the servers the hub really runs.

One run:
1. closes sessions whose server the hub no longer has (orphans: the hub or the stop hook
   missed a stop), after a short grace so a spawn in flight is never closed;
2. charges every running session up to now (so budgets are spent as servers run);
3. enforces the tier's limits on each running server:
   - past its allocation's budget or the tier's maximum session length: warned first
     (a notice, and `warned_at` on the session), stopped through the Hub API on a later run
     once `grace` has passed since the warning;
   - close to either limit (within `warn_before_hours`): warned;
   - idle longer than the tier's idle-cull hours (the hub's `last_activity`): stopped.
     jupyterhub-idle-culler runs with the longest tier idle time; this enforces the
     shorter ones per tier.
Stopped servers' sessions are closed (and charged) at once; the post-stop hook's later call
finds nothing open, which is fine: closing is idempotent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..factory import Factory, Services
from ..hubapi import HubApi, HubApiError, HubServer
from ..schema import Allocation
from ..services import ledger
from ..services.views import pool_of


@dataclass(frozen=True)
class ReconcileOptions:
    warn_before_hours: float = 1.0
    grace: timedelta = timedelta(minutes=15)
    orphan_grace: timedelta = timedelta(minutes=2)


@dataclass
class Action:
    session_id: int
    username: str
    server_name: str
    action: str  # closed_orphan, warned, stopped
    reason: str
    detail: str = ""


@dataclass
class ReconcileReport:
    open_sessions: int = 0
    hub_servers: int = 0
    cpu_hours_charged: float = 0.0
    actions: list[Action] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    untracked_servers: list[str] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for a in self.actions if a.action == action)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def reconcile(
    factory: Factory, hub: HubApi, options: ReconcileOptions | None = None
) -> ReconcileReport:
    """One reconcile run; the whole database side is one transaction."""
    options = options or ReconcileOptions()
    report = ReconcileReport()
    servers = {s.key: s for s in hub.servers()}
    report.hub_servers = len(servers)
    with factory.unit_of_work() as svc:
        now = svc.ctx.now()
        sessions = svc.spawn.open_sessions()
        report.open_sessions = len(sessions)
        tracked = {(s.username, s.server_name) for s in sessions}
        report.untracked_servers = sorted(f"{u}/{n}" for u, n in servers if (u, n) not in tracked)

        running = []
        for s in sessions:
            if (s.username, s.server_name) in servers:
                running.append(s)
            elif now - s.started_at >= options.orphan_grace:
                closed = svc.spawn.close_by_id(s.id, reason="orphaned")
                report.actions.append(
                    Action(
                        s.id,
                        s.username,
                        s.server_name,
                        "closed_orphan",
                        "the hub has no such server",
                        f"{closed.cpu_hours:g} CPU-hours",
                    )
                )

        report.cpu_hours_charged = svc.spawn.charge_open([s.id for s in running])
        for s in running:
            _enforce(svc, hub, servers[(s.username, s.server_name)], s.id, now, options, report)
    return report


def _enforce(
    svc: Services,
    hub: HubApi,
    server: HubServer,
    session_id: int,
    now: datetime,
    options: ReconcileOptions,
    report: ReconcileReport,
) -> None:
    policy = svc.ctx.policy
    row = svc.spawn.get_session(session_id)
    allocation = svc.ctx.session.get(Allocation, row.allocation_id)
    assert allocation is not None
    tier = policy.tier(allocation.tier)
    standing = ledger.standing(policy, allocation, pool_of(svc.ctx, allocation))
    age_hours = (now - row.started_at).total_seconds() / 3600.0

    def act(action: str, reason: str, detail: str = "") -> None:
        report.actions.append(Action(row.id, server.username, server.name, action, reason, detail))

    # Idle longer than the tier allows: stop (what the culler does, per tier).
    if server.last_activity is not None and server.ready:
        idle_hours = (now - server.last_activity).total_seconds() / 3600.0
        if idle_hours >= tier.idle_cull_hours:
            _stop(svc, hub, server, row.id, "idle", f"idle {idle_hours:.2f} h", act, report)
            return

    over = []
    near = []
    if standing.left <= 0:
        over.append(f"allocation budget used up ({standing.used:g} of {standing.budget:g})")
    elif standing.left <= row.cpu_per_hour * options.warn_before_hours:
        near.append(f"{standing.left:.2f} CPU-hours left")
    if age_hours >= tier.max_session_hours:
        over.append(f"running {age_hours:.1f} h, the maximum is {tier.max_session_hours:g} h")
    elif age_hours >= tier.max_session_hours - options.warn_before_hours:
        near.append(f"running {age_hours:.1f} h of at most {tier.max_session_hours:g} h")

    reason = "budget" if standing.left <= 0 else "max_session"
    if over and row.warned_at is not None and now - row.warned_at >= options.grace:
        _stop(svc, hub, server, row.id, reason, "; ".join(over), act, report)
    elif (over or near) and row.warned_at is None:
        row.warned_at = now
        what = "; ".join(over or near)
        user = svc.users.find(server.username)
        if user is not None:
            svc.notices.post(
                user,
                "session_limit",
                f"Your server {server.name or '(default)'} will be stopped soon: {what}. "
                "Save your work.",
                dedupe_key=f"session:{row.id}:limit",
            )
        act("warned", "over_limit" if over else "near_limit", what)


def _stop(
    svc: Services,
    hub: HubApi,
    server: HubServer,
    session_id: int,
    reason: str,
    detail: str,
    act: Any,
    report: ReconcileReport,
) -> None:
    try:
        hub.stop_server(server.username, server.name)
    except HubApiError as exc:
        report.errors.append(f"stopping {server.username}/{server.name}: {exc}")
        return
    svc.spawn.close_by_id(session_id, reason=reason)
    act("stopped", reason, detail)
