"""The page of a person's team collaboration servers: start, open and stop them
(handlers/collab.py does the work for the JSON API and this page alike).

The hub's home page links each of a person's teams here (hub_config/templates/
collab_home.html): GET /collab/<id>/start or /stop is a confirmation page whose one form
carries this service's CSRF token (a hub page cannot), so nothing changes on a GET. From the
hub (`?from=hub`), a start goes on to /collab/<id>/open, which waits for the server and then
sends the browser into the team's lab; a stop goes back to the hub's home page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from ..auth import Identity
from ..config import Settings
from ..errors import QuotaError
from ..handlers.collab import hub_client, list_mine, start_one, stop_one
from ..models.v1 import MAX_ID
from ..services.collab import CollabService, TeamServer
from .render import PageRoute, base_path, flash, form_data, page_identity, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Viewer = Annotated[Identity, Depends(page_identity)]
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
# Where a confirmed action returns: only this fixed value (no URL is taken from the request).
FROM_HUB = "hub"
From = Annotated[str | None, Query(alias="from", max_length=8)]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _page(request: Request, viewer: Identity, error: str = "", status: int = 200) -> Response:
    settings = _settings(request)
    teams = list_mine(request.app.state.factory, settings, viewer)
    context = {"teams": teams, "error": error, "idle_hours": settings.reconcile.collab_idle_hours}
    return render(request, "collab.html", context, status_code=status)


@router.get("/collab", response_class=HTMLResponse)
def collab_page(request: Request, viewer: Viewer) -> Response:
    return _page(request, viewer)


def _hub_home(settings: Settings) -> str:
    return f"{settings.hub_base_url.rstrip('/')}/hub/home"


async def _act(request: Request, viewer: Identity, consortium_id: int, verb: str) -> Response:
    data = await form_data(request)  # the CSRF check
    action = start_one if verb == "start" else stop_one
    factory, settings = request.app.state.factory, _settings(request)
    try:
        done = await run_in_threadpool(action, factory, settings, viewer, consortium_id)
    except QuotaError as exc:
        if exc.status_code in (401, 404) or exc.status_code >= 500:
            raise
        return await run_in_threadpool(_page, request, viewer, exc.detail, exc.status_code)
    flash(
        request, f"The {done.consortium} server is {'starting' if verb == 'start' else 'stopping'}."
    )
    if data.get("return_to") == FROM_HUB:
        where = f"{base_path(request)}collab/{consortium_id}/open" if verb == "start" else None
        return RedirectResponse(where or _hub_home(settings), status_code=303)
    return RedirectResponse(f"{base_path(request)}collab", status_code=303)


def _member_team(request: Request, viewer: Identity, consortium_id: int) -> TeamServer:
    """The team server of `consortium_id` if `viewer` is a member or lead (else 403/404)."""
    with request.app.state.factory.unit_of_work() as svc:
        return CollabService(svc.ctx).team(viewer, consortium_id)


def _confirm(request: Request, viewer: Identity, cid: int, verb: str, came: str | None) -> Response:
    team = _member_team(request, viewer, cid)
    context = {
        "team": team,
        "verb": verb,
        "from_hub": came == FROM_HUB,
        "hub_home": _hub_home(_settings(request)),
        "idle_hours": _settings(request).reconcile.collab_idle_hours,
    }
    return render(request, "collab_confirm.html", context)


@router.get("/collab/{consortium_id}/start", response_class=HTMLResponse)
def confirm_start(
    request: Request, consortium_id: Id, viewer: Viewer, came: From = None
) -> Response:
    """The confirmation page of a start: one form, nothing started yet."""
    return _confirm(request, viewer, consortium_id, "start", came)


@router.get("/collab/{consortium_id}/stop", response_class=HTMLResponse)
def confirm_stop(
    request: Request, consortium_id: Id, viewer: Viewer, came: From = None
) -> Response:
    """The confirmation page of a stop: one form, nothing stopped yet."""
    return _confirm(request, viewer, consortium_id, "stop", came)


@router.get("/collab/{consortium_id}/open", response_class=HTMLResponse)
def open_team_server(request: Request, consortium_id: Id, viewer: Viewer) -> Response:
    """Into the team's lab once it is ready; while it starts, a page that reloads itself;
    when it is not running, a page that offers the start. Reads the hub only."""
    team = _member_team(request, viewer, consortium_id)
    with hub_client(_settings(request)) as hub:
        state = hub.state(team.username)
    if state.ready and state.url:
        return RedirectResponse(state.url, status_code=303)
    context = {"team": team, "running": state.running, "pending": state.pending}
    return render(request, "collab_open.html", context)


@router.post("/collab/{consortium_id}/start", response_class=HTMLResponse)
async def start(request: Request, consortium_id: Id, viewer: Viewer) -> Response:
    return await _act(request, viewer, consortium_id, "start")


@router.post("/collab/{consortium_id}/stop", response_class=HTMLResponse)
async def stop(request: Request, consortium_id: Id, viewer: Viewer) -> Response:
    return await _act(request, viewer, consortium_id, "stop")
