"""The page of a person's team collaboration servers: start, open and stop them
(handlers/collab.py does the work for the JSON API and this page alike)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from ..auth import Identity
from ..config import Settings
from ..errors import QuotaError
from ..handlers.collab import list_mine, start_one, stop_one
from ..models.v1 import MAX_ID
from .render import PageRoute, base_path, flash, form_data, page_identity, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Viewer = Annotated[Identity, Depends(page_identity)]
Id = Annotated[int, Path(ge=1, le=MAX_ID)]


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


async def _act(request: Request, viewer: Identity, consortium_id: int, verb: str) -> Response:
    await form_data(request)  # the CSRF check
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
    return RedirectResponse(f"{base_path(request)}collab", status_code=303)


@router.post("/collab/{consortium_id}/start", response_class=HTMLResponse)
async def start(request: Request, consortium_id: Id, viewer: Viewer) -> Response:
    return await _act(request, viewer, consortium_id, "start")


@router.post("/collab/{consortium_id}/stop", response_class=HTMLResponse)
async def stop(request: Request, consortium_id: Id, viewer: Viewer) -> Response:
    return await _act(request, viewer, consortium_id, "stop")
