"""Endpoints for the hub's spawner hook and the reconciler.

They run on the event loop (`Factory.run`): a spawn waits on them, and a hand-off to a thread
per request cost as much CPU as the decision's queries.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool

from ..error_table import api_errors
from ..errors import NotFound
from ..jobs.restore_background import start_restore
from ..metrics import SPAWN_DECISIONS
from ..models.restores import RestoreView, SpawnAllowedWithRestore
from ..models.servers import RunningServersView
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
from .deps import FactoryDep, HubDep

router = APIRouter(prefix="/hub", tags=["hub"])


@router.get("/users/{username}/entitlements", response_model=Entitlements, responses=api_errors())
async def entitlements(
    username: Annotated[str, Path(pattern=USERNAME_PATTERN)],
    factory: FactoryDep,
    caller: HubDep,
) -> Entitlements:
    """The sizes this person may start, with their allocations and storage standing."""
    return await factory.run(lambda svc: svc.spawn.entitlements(username))


@router.get("/users/{username}/servers", response_model=RunningServersView, responses=api_errors())
async def running_servers(
    username: Annotated[str, Path(pattern=USERNAME_PATTERN)],
    factory: FactoryDep,
    caller: HubDep,
) -> RunningServersView:
    """This person's open sessions (default and named servers) with their size, allocation
    and CPU-hours so far, for the hub's home page."""
    return await factory.run(lambda svc: svc.spawn.running_servers(username))


@router.post(
    "/spawn-decisions",
    response_model=SpawnAllowedWithRestore | SpawnDenied,
    responses=api_errors(404, 409),
)
async def spawn_decision(
    body: SpawnDecisionIn, factory: FactoryDep, caller: HubDep
) -> SpawnAllowed | SpawnDenied:
    """Decide a spawn. An allowed decision opens a session on the chosen allocation, and starts
    restoring the person's archived home in the background (`restore`), never waiting for it."""
    decision = await factory.run(
        lambda svc: svc.spawn.decide(
            body.username, body.server_name, body.size, body.allocation_id, body.release
        )
    )
    if isinstance(decision, SpawnAllowed):
        restore = await start_restore(factory, body.username)
        if restore is not None:
            decision = SpawnAllowedWithRestore(**decision.model_dump(), restore=restore)
    result = decision.code if isinstance(decision, SpawnDenied) else "allowed"
    SPAWN_DECISIONS.labels(result=result).inc()
    return decision


@router.get("/users/{username}/restore", response_model=RestoreView, responses=api_errors(404))
async def restore_status(
    username: Annotated[str, Path(pattern=USERNAME_PATTERN)],
    factory: FactoryDep,
    caller: HubDep,
) -> RestoreView:
    """The latest restore of this person's home at sign-in: running, restored or failed."""
    view = await run_in_threadpool(factory.restore_runner().status, username)
    if view is None:
        raise NotFound(f"no restore of {username}'s home was started")
    return view


@router.post("/sessions/stop", response_model=SessionStopOut, responses=api_errors())
async def stop_session(body: SessionStopIn, factory: FactoryDep, caller: HubDep) -> SessionStopOut:
    """Close (and charge) the open session of a stopped server. Idempotent."""
    closed = await factory.run(lambda svc: svc.spawn.stop(body.username, body.server_name))
    return SessionStopOut(closed=closed)


@router.get("/sessions", response_model=list[SessionView], responses=api_errors())
async def open_sessions(factory: FactoryDep, caller: HubDep) -> list[SessionView]:
    """Sessions still open (servers the quota service believes are running)."""
    return await factory.run(lambda svc: svc.spawn.open_sessions())
