"""Endpoints for the hub's spawner hook and the reconciler.

They run on the event loop (`Factory.run`): a spawn waits on them, and a hand-off to a thread
per request cost as much CPU as the decision's queries.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool

from ..metrics import SPAWN_DECISIONS
from ..models.v1 import (
    USERNAME_PATTERN,
    Entitlements,
    SessionStopIn,
    SessionStopOut,
    SessionView,
    SpawnAllowed,
    SpawnDecisionIn,
    SpawnDenied,
)
from ..services.login import restore_at_login
from ..services.storage import StorageConfig
from .deps import FactoryDep, HubDep

router = APIRouter(prefix="/hub", tags=["hub"])


@router.get("/users/{username}/entitlements", response_model=Entitlements)
async def entitlements(
    username: Annotated[str, Path(pattern=USERNAME_PATTERN)],
    factory: FactoryDep,
    caller: HubDep,
) -> Entitlements:
    """The sizes this person may start, with their allocations and storage standing."""
    return await factory.run(lambda svc: svc.spawn.entitlements(username))


@router.post("/spawn-decisions", response_model=SpawnAllowed | SpawnDenied)
async def spawn_decision(
    body: SpawnDecisionIn, factory: FactoryDep, caller: HubDep
) -> SpawnAllowed | SpawnDenied:
    """Decide a spawn. An allowed decision opens a session on the chosen allocation."""
    decision = await factory.run(
        lambda svc: svc.spawn.decide(body.username, body.server_name, body.size, body.allocation_id)
    )
    if isinstance(decision, SpawnAllowed) and factory.settings.restore_on_login:
        config = StorageConfig.from_settings(factory.settings)
        # Restoring is file work with its own transaction: a thread, and only where homes are.
        if config.home_mounted:
            restored = await run_in_threadpool(restore_at_login, factory, config, body.username)
            if restored:
                decision.notice = f"{decision.notice} {restored}" if decision.notice else restored
    result = decision.code if isinstance(decision, SpawnDenied) else "allowed"
    SPAWN_DECISIONS.labels(result=result).inc()
    return decision


@router.post("/sessions/stop", response_model=SessionStopOut)
async def stop_session(body: SessionStopIn, factory: FactoryDep, caller: HubDep) -> SessionStopOut:
    """Close (and charge) the open session of a stopped server. Idempotent."""
    closed = await factory.run(lambda svc: svc.spawn.stop(body.username, body.server_name))
    return SessionStopOut(closed=closed)


@router.get("/sessions", response_model=list[SessionView])
async def open_sessions(factory: FactoryDep, caller: HubDep) -> list[SessionView]:
    """Sessions still open (servers the quota service believes are running)."""
    return await factory.run(lambda svc: svc.spawn.open_sessions())
