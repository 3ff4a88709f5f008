"""Endpoints for a team's collaboration server: its members see, start and stop it.

Each call checks membership in one transaction, then talks to the hub outside it: starting
makes the hub ask this service for the spawn decision (which charges the pool), so no
transaction may be open while the hub works.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Request

from ..config import Settings
from ..error_table import api_errors
from ..errors import Conflict, QuotaError, UpstreamUnavailable
from ..factory import Factory
from ..hubapi import HubApiError
from ..models.collab import CollabView
from ..models.v1 import MAX_ID
from ..services.base import Caller
from ..services.collab import CollabService, TeamServer
from ..services.collab_hub import CollabHub, ServerState, SpawnRefusedByHub
from .deps import FactoryDep, UserDep

router = APIRouter(tags=["collaboration"])
log = logging.getLogger("quota_service.collab")
Id = Annotated[int, Path(ge=1, le=MAX_ID)]


@contextmanager
def hub_client(settings: Settings) -> Iterator[CollabHub]:
    """The hub API with the service's own token; hub failures become a 503."""
    if settings.hub_api_token is None:
        raise UpstreamUnavailable("this service has no hub token, so it cannot run team servers")
    hub = CollabHub(settings.hub_api_url, settings.hub_api_token.get_secret_value())
    try:
        yield hub
    except HubApiError as exc:
        raise UpstreamUnavailable(f"the hub did not do it: {exc}", code="hub_unavailable") from None
    finally:
        hub.close()


def view(team: TeamServer, state: ServerState, settings: Settings) -> CollabView:
    return CollabView(
        consortium_id=team.consortium_id,
        consortium=team.consortium,
        team_user=team.username,
        url=state.url or f"/user/{quote(team.username, safe='@~')}/",
        running=state.running,
        ready=state.ready,
        pending=state.pending,
        size=team.size,
        charged_to=team.pool_id,
        members=list(team.members),
        last_activity=state.last_activity,
        idle_stop_hours=settings.reconcile.collab_idle_hours,
    )


def _team(
    factory: Factory, caller: Caller, consortium_id: int, *, to_start: bool = False
) -> TeamServer:
    with factory.unit_of_work() as svc:
        return CollabService(svc.ctx).team(caller, consortium_id, to_start=to_start)


# -- the operations, shared by the JSON API below and the page (web/collab_pages.py) --------
def list_mine(factory: Factory, settings: Settings, caller: Caller) -> list[CollabView]:
    with factory.unit_of_work() as svc:
        teams = CollabService(svc.ctx).teams_of(caller.name)
    if not teams:
        return []
    with hub_client(settings) as hub:
        return [view(t, hub.state(t.username), settings) for t in teams]


def show_one(factory: Factory, settings: Settings, caller: Caller, cid: int) -> CollabView:
    team = _team(factory, caller, cid)
    with hub_client(settings) as hub:
        state = hub.state(team.username)
        if state.exists:
            hub.sync_shares(team.username, set(team.members))
        return view(team, state, settings)


def start_one(factory: Factory, settings: Settings, caller: Caller, cid: int) -> CollabView:
    team = _team(factory, caller, cid, to_start=True)
    with hub_client(settings) as hub:
        hub.ensure_user(team.username)
        hub.sync_shares(team.username, set(team.members))
        try:
            hub.start(team.username, team.size, team.pool_id)
        except SpawnRefusedByHub as exc:
            raise Conflict(
                f"the team server was not started: {exc}", code="spawn_refused"
            ) from None
        return view(team, hub.state(team.username), settings)


def stop_one(factory: Factory, settings: Settings, caller: Caller, cid: int) -> CollabView:
    team = _team(factory, caller, cid)
    with hub_client(settings) as hub:
        if hub.state(team.username).running:
            hub.stop(team.username)
        return view(team, hub.state(team.username), settings)


def sync_members(factory: Factory, settings: Settings, consortium_id: int) -> None:
    """After a member joins or leaves: share the team server (if the team has one) with
    exactly the members. Best effort (the change of membership stands): every start, and
    every member's look at it, syncs the shares again."""
    with factory.unit_of_work() as svc:
        teams = CollabService(svc.ctx)
        try:
            team = teams.team_of(consortium_id)
        except QuotaError:
            return
    try:
        with hub_client(settings) as hub:
            if hub.state(team.username).exists:
                hub.sync_shares(team.username, set(team.members))
    except QuotaError as exc:
        log.warning("team server shares of consortium %s not synced: %s", consortium_id, exc)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.get("/me/collab", response_model=list[CollabView], responses=api_errors())
def my_team_servers(request: Request, factory: FactoryDep, caller: UserDep) -> list[CollabView]:
    """The collaboration servers of every consortium the caller belongs to."""
    return list_mine(factory, _settings(request), caller)


@router.get(
    "/consortia/{consortium_id}/collab",
    response_model=CollabView,
    responses=api_errors(403, 404, 503),
)
def show(request: Request, consortium_id: Id, factory: FactoryDep, caller: UserDep) -> CollabView:
    return show_one(factory, _settings(request), caller, consortium_id)


@router.post(
    "/consortia/{consortium_id}/collab",
    response_model=CollabView,
    status_code=202,
    responses=api_errors(403, 404, 409, 503),
)
def start(request: Request, consortium_id: Id, factory: FactoryDep, caller: UserDep) -> CollabView:
    """Start the team server (a member or lead), shared with every member, billed to the pool."""
    return start_one(factory, _settings(request), caller, consortium_id)


@router.delete(
    "/consortia/{consortium_id}/collab",
    response_model=CollabView,
    status_code=202,
    responses=api_errors(403, 404, 503),
)
def stop(request: Request, consortium_id: Id, factory: FactoryDep, caller: UserDep) -> CollabView:
    """Stop the team server: any member or lead may."""
    return stop_one(factory, _settings(request), caller, consortium_id)
