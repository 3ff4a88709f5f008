"""Endpoints for the hub's spawner hook and the reconciler."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

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
def entitlements(
    username: Annotated[str, Path(pattern=USERNAME_PATTERN)],
    factory: FactoryDep,
    caller: HubDep,
) -> Entitlements:
    """The sizes this person may start, with their allocations and storage standing."""
    with factory.unit_of_work() as svc:
        return svc.spawn.entitlements(username)


@router.post("/spawn-decisions", response_model=SpawnAllowed | SpawnDenied)
def spawn_decision(
    body: SpawnDecisionIn, factory: FactoryDep, caller: HubDep
) -> SpawnAllowed | SpawnDenied:
    """Decide a spawn. An allowed decision opens a session on the chosen allocation."""
    with factory.unit_of_work() as svc:
        decision = svc.spawn.decide(body.username, body.server_name, body.size, body.allocation_id)
    if isinstance(decision, SpawnAllowed) and factory.settings.restore_on_login:
        config = StorageConfig.from_settings(factory.settings)
        restored = restore_at_login(factory, config, body.username)
        if restored:
            decision.notice = f"{decision.notice} {restored}" if decision.notice else restored
    result = decision.code if isinstance(decision, SpawnDenied) else "allowed"
    SPAWN_DECISIONS.labels(result=result).inc()
    return decision


@router.post("/sessions/stop", response_model=SessionStopOut)
def stop_session(body: SessionStopIn, factory: FactoryDep, caller: HubDep) -> SessionStopOut:
    """Close (and charge) the open session of a stopped server. Idempotent."""
    with factory.unit_of_work() as svc:
        return SessionStopOut(closed=svc.spawn.stop(body.username, body.server_name))


@router.get("/sessions", response_model=list[SessionView])
def open_sessions(factory: FactoryDep, caller: HubDep) -> list[SessionView]:
    """Sessions still open (servers the quota service believes are running)."""
    with factory.unit_of_work() as svc:
        return svc.spawn.open_sessions()
