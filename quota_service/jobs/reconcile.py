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

Before 2 and 3, it adopts running servers that have no session: those the hook started
"fail-open" while the quota service was down (allocation label "none"). Each gets a session
on the person's Entry allocation (or, without a usable one, their highest usable tier),
starting at the server's start time as the hub reports it, at the hub's fail-open size
(`adopt_size`, the hub's `fallback_size`). From then on it is charged and held to its
tier's limits like any other server; the first charge covers the time since it started.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hub_config.collab import is_team_username

from ..config import ReconcileSettings
from ..errors import InvalidInput
from ..factory import Factory, Services
from ..hubapi import HubApi, HubApiError, HubServer
from ..schema import Allocation, ServerSession, User
from ..services import ledger
from ..services.collab import idle_since, team_allocations
from ..services.views import pool_of


@dataclass(frozen=True)
class ReconcileOptions:
    """One run's thresholds; their defaults are the settings `reconcile.*`."""

    warn_before_hours: float
    grace: timedelta
    orphan_grace: timedelta
    # The size fail-open servers run (hub_config FallbackSize.name); None: adopt nothing.
    adopt_size: str | None
    # Team collaboration servers stop this long after their last activity.
    collab_idle_hours: float = 3.0

    @classmethod
    def from_settings(cls, settings: ReconcileSettings, *, adopt: bool = True) -> ReconcileOptions:
        return cls(
            warn_before_hours=settings.warn_hours,
            grace=timedelta(minutes=settings.grace_minutes),
            orphan_grace=timedelta(seconds=settings.orphan_grace_seconds),
            adopt_size=settings.adopt_size if adopt else None,
            collab_idle_hours=settings.collab_idle_hours,
        )


@dataclass
class Action:
    session_id: int
    username: str
    server_name: str
    action: str  # adopted, closed_orphan, warned, stopped
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
    options = options or ReconcileOptions.from_settings(factory.settings.reconcile)
    report = ReconcileReport()
    servers = {s.key: s for s in hub.servers()}
    report.hub_servers = len(servers)
    with factory.unit_of_work() as svc:
        now = svc.ctx.now()
        sessions = svc.spawn.open_sessions()
        report.open_sessions = len(sessions)
        tracked = {(s.username, s.server_name) for s in sessions}

        running: list[tuple[int, tuple[str, str]]] = []
        if options.adopt_size is not None:
            _check_size(svc, options.adopt_size)
            for key in sorted(set(servers) - tracked):
                adopted = _adopt(svc, servers[key], options.adopt_size, now, report)
                if adopted is not None:
                    running.append((adopted, key))
        known = tracked | {key for _, key in running}
        report.untracked_servers = sorted(f"{u}/{n}" for u, n in servers if (u, n) not in known)
        for s in sessions:
            if (s.username, s.server_name) in servers:
                running.append((s.id, (s.username, s.server_name)))
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

        report.cpu_hours_charged = svc.spawn.charge_open([sid for sid, _ in running])
        for sid, key in running:
            _enforce(svc, hub, servers[key], sid, now, options, report)
    return report


def _check_size(svc: Services, size_name: str) -> None:
    if size_name not in svc.ctx.policy.sizes:
        raise InvalidInput(
            f"adopt size {size_name!r} is not a size of the policy; sizes are: "
            + ", ".join(svc.ctx.policy.sizes),
            code="unknown_size",
        )


def _adopt(
    svc: Services, server: HubServer, size_name: str, now: datetime, report: ReconcileReport
) -> int | None:
    """Open a session for a running server the quota service never decided (fail-open)."""
    if not server.ready:  # still starting: its hook may yet record a decision
        return None
    user = svc.users.ensure(server.username)
    svc.users.ensure_entry_fallback(user)
    allocation = _default_allocation(svc, user)
    if allocation is None:
        report.errors.append(f"adopting {server.username}/{server.name}: no usable allocation")
        return None
    started = min(server.started or now, now)
    size = svc.ctx.policy.sizes[size_name]
    row = ServerSession(
        user_id=user.id,
        allocation_id=allocation.id,
        server_name=server.name,
        size=size_name,
        cpu_per_hour=size.cpu_hours_per_hour,
        cleanup_mode=False,
        started_at=started,
        charged_until=started,
        ended_at=None,
        cpu_hours_charged=0.0,
    )
    svc.ctx.session.add(row)
    svc.ctx.session.flush()
    detail = f"{size_name} on {allocation.label} since {started.isoformat()}"
    svc.audit.record(
        actor="job:reconcile",
        action="session.adopt",
        target_type="session",
        target_id=row.id,
        after={"username": server.username, "server_name": server.name, "detail": detail},
        reason="server started while the quota service was unreachable",
    )
    svc.notices.post(
        user,
        "session_adopted",
        f"Your server {server.name or '(default)'} started while the quota service was "
        f"unreachable. It is now charged to your {allocation.label} allocation from its "
        "start, and its tier's limits apply.",
        dedupe_key=f"session:{row.id}:adopted",
    )
    report.actions.append(
        Action(row.id, server.username, server.name, "adopted", "fail_open", detail)
    )
    return row.id


def _default_allocation(svc: Services, user: User) -> Allocation | None:
    """What a fail-open server is charged to: the Entry allocation it ran as, or else the
    highest usable tier. A team's collaboration server: its consortium's pool."""
    team = team_allocations(svc.ctx, user.username)
    if team is not None:
        return team[0] if team else None
    usable = svc.users.usable_allocations(user)
    entry = [a for a in usable if a.tier == "entry"]
    ranked = entry or sorted(usable, key=lambda a: -ledger.TIER_RANK.get(a.tier, 0))
    return ranked[0] if ranked else None


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

    # A team's collaboration server: stopped once nobody has had it open for a while.
    if server.ready and is_team_username(server.username):
        if idle_since(server.last_activity, server.started, now, options.collab_idle_hours):
            detail = f"no one connected for {options.collab_idle_hours:g} h"
            _stop(svc, hub, server, row.id, "collab_idle", detail, act, report)
            return

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
