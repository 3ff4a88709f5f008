"""Pages for people: sign-in, my allocation, my requests, and the consortium lead's page."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import httpx
from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from ..auth import Identity
from ..errors import Conflict, InvalidInput, NotFound, QuotaError
from ..factory import Factory, Services
from ..handlers.collab import sync_members
from ..models.v1 import (
    MAX_ID,
    USERNAME_PATTERN,
    ConsortiumView,
    MemberIn,
    MeView,
    RequestIn,
    ShareIn,
)
from ..schema import AllocationKind
from ..services.forecast import ForecastService
from ..services.storage_views import StorageViewService
from . import charts
from .oauth import STATE_COOKIE, STATE_MAX_AGE, OAuthConfig, OAuthError, new_state, safe_next
from .render import (
    GIB,
    PageRoute,
    base_path,
    clean,
    error_page,
    field_errors,
    flash,
    form_data,
    page_identity,
    render,
)
from .session import Signer, cookie_header, secure_cookies, session_of

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Viewer = Annotated[Identity, Depends(page_identity)]
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
Username = Annotated[str, Path(pattern=USERNAME_PATTERN)]
T = TypeVar("T")


def factory_of(request: Request) -> Factory:
    factory: Factory = request.app.state.factory
    return factory


async def in_transaction(request: Request, work: Callable[[Services], T]) -> T:
    """`work` in one transaction from an `async def` page: on the event loop through
    `Factory.run`, as the hub's endpoints do, never a synchronous session on the loop."""
    return await factory_of(request).run(work)


def in_thread_transaction(request: Request, work: Callable[[Services], T]) -> T:
    """`work` in one transaction from a plain `def` page, which runs in the thread pool."""
    with factory_of(request).unit_of_work() as svc:
        return work(svc)


def state_signer(request: Request) -> Signer:
    signer: Signer = request.app.state.web_state_signer
    return signer


# --- sign-in -------------------------------------------------------------------------------


@router.get("/login")
async def login(request: Request, next: str | None = None) -> Response:
    config: OAuthConfig = request.app.state.web_oauth
    base = base_path(request)
    state = new_state()
    value = state_signer(request).dumps({"state": state, "next": safe_next(next, base)})
    response = RedirectResponse(config.authorize_redirect(state), status_code=302)
    response.headers.append(
        "Set-Cookie",
        cookie_header(
            STATE_COOKIE, value, path=base, max_age=STATE_MAX_AGE, secure=secure_cookies(request)
        ),
    )
    return response


@router.get("/oauth_callback")
async def oauth_callback(
    request: Request, code: str | None = None, state: str | None = None
) -> Response:
    base = base_path(request)
    raw = request.cookies.get(STATE_COOKIE)
    saved = state_signer(request).loads(raw, max_age=STATE_MAX_AGE) if raw else None
    expected = saved.get("state") if saved else None
    if (
        not code
        or not state
        or not isinstance(expected, str)
        or not hmac.compare_digest(expected.encode(), state.encode())
    ):
        return error_page(
            request,
            403,
            "this sign-in could not be verified (it expired or did not start here); "
            "please sign in again",
            "oauth_state",
        )
    config: OAuthConfig = request.app.state.web_oauth
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0)) as client:
            token = await config.exchange(code, client)
    except OAuthError as exc:
        return error_page(request, 502, str(exc), "oauth_failed")
    identity = await request.app.state.resolver.resolve(token)
    session = session_of(request)
    session.clear()
    session["token"] = token
    session["user"] = identity.name
    target = safe_next(str(saved.get("next")) if saved else None, base)
    response = RedirectResponse(target, status_code=302)
    response.headers.append(
        "Set-Cookie",
        cookie_header(STATE_COOKIE, "", path=base, max_age=0, secure=secure_cookies(request)),
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Forget the session here, then sign out at the hub, which deletes every token of the
    hub session, this service's OAuth token included (a DELETE through the token API would
    need the `tokens` scope, which could also mint tokens; see docs/security-quota.md)."""
    await form_data(request)
    session = session_of(request)
    token = session.get("token")
    session.clear()
    if isinstance(token, str):
        request.app.state.resolver.forget(token)
    config: OAuthConfig = request.app.state.web_oauth
    return RedirectResponse(config.logout_url, status_code=303)


# --- my allocation -------------------------------------------------------------------------


def load_overview(svc: Services, username: str, *, own: bool) -> dict[str, Any]:
    """What a person's overview shows, read in one transaction (charts are drawn after)."""
    if not own:
        svc.users.get(username)
    me = svc.users.me(username)
    user = svc.users.get(username)
    forecasts = ForecastService(svc.ctx).for_user(username)
    storage_svc = StorageViewService(svc.ctx)
    history = storage_svc.history(user)
    purge = storage_svc.purge_overview(user)
    today = svc.ctx.now().date()
    return {
        "me": me,
        "own": own,
        "forecasts": forecasts,
        "history": history,
        "purge": purge,
        "today": today,
    }


def overview_context(request: Request, loaded: dict[str, Any]) -> dict[str, Any]:
    factory = factory_of(request)
    me, own, today = loaded["me"], loaded["own"], loaded["today"]
    forecasts, history, purge = loaded["forecasts"], loaded["history"], loaded["purge"]
    storage = me.storage
    soft = storage.soft_quota_bytes / GIB if storage.soft_quota_bytes else None
    hard = storage.hard_quota_bytes / GIB if storage.hard_quota_bytes else None
    return {
        "me": me,
        "own": own,
        "today": today,
        "forecasts": [(f, charts.usage_chart(f, today)) for f in forecasts],
        "home_gauge": charts.gauge(
            storage.home_bytes / GIB, soft, hard, title="Home use against its quota"
        ),
        "scratch_gauge": charts.gauge(
            storage.scratch_bytes / GIB, None, None, title="Scratch use (no quota; purged by age)"
        ),
        "storage_chart": charts.storage_chart(
            [(p.at.date(), p.home_bytes / GIB, p.scratch_bytes / GIB) for p in history],
            soft,
            hard,
        ),
        "purge": purge,
        "retention_days": factory.policy.tier(me.tier).scratch_retention_days,
    }


@router.get("/", response_class=HTMLResponse)
def my_allocation(request: Request, viewer: Viewer) -> Response:
    loaded = in_thread_transaction(request, lambda svc: load_overview(svc, viewer.name, own=True))
    return render(request, "overview.html", overview_context(request, loaded))


# --- requests ------------------------------------------------------------------------------

REQUEST_FIELDS = (
    "tier",
    "kind",
    "justification",
    "proposal_ref",
    "allocation_id",
    "requested_cpu_hours",
)


def requests_context(me: MeView) -> dict[str, Any]:
    renewable = [
        a
        for a in me.allocations
        if a.kind == AllocationKind.personal.value
        and a.tier != "entry"
        and a.status not in ("revoked",)
    ]
    return {"me": me, "renewable": renewable}


@router.get("/requests", response_class=HTMLResponse)
def my_requests(request: Request, viewer: Viewer) -> Response:
    me = in_thread_transaction(request, lambda svc: svc.users.me(viewer.name))
    return render(request, "requests.html", requests_context(me))


@router.get("/requests/new", response_class=HTMLResponse)
def request_form(request: Request, viewer: Viewer, tier: str = "research") -> Response:
    ctx = requests_context(in_thread_transaction(request, lambda svc: svc.users.me(viewer.name)))
    ctx.update(
        values={
            "tier": tier if tier in ("research", "consortium") else "research",
            "kind": "upgrade",
        },
        errors={},
    )
    return render(request, "request_form.html", ctx)


@router.post("/requests/new", response_class=HTMLResponse)
async def file_request(request: Request, viewer: Viewer) -> Response:
    data = clean(await form_data(request), REQUEST_FIELDS)
    errors: dict[str, str] = {}
    status = 422
    try:
        body = RequestIn.model_validate(data)
        created = await in_transaction(request, lambda svc: svc.requests.create(viewer.name, body))
    except ValidationError as exc:
        errors = field_errors(exc)
    except (InvalidInput, Conflict, NotFound) as exc:
        errors = {exc.field or "__form__": exc.detail}  # next to the field it concerns
        status = exc.status_code
    else:
        flash(request, f"Request #{created.id} filed: an admin will review it.")
        return RedirectResponse(base_path(request) + "requests", status_code=303)
    ctx = requests_context(await in_transaction(request, lambda svc: svc.users.me(viewer.name)))
    ctx.update(values=data, errors=errors)
    return render(request, "request_form.html", ctx, status_code=status)


@router.post("/requests/{request_id}/withdraw")
async def withdraw(request: Request, request_id: Id, viewer: Viewer) -> Response:
    await form_data(request)
    await in_transaction(request, lambda svc: svc.requests.withdraw(viewer.name, request_id))
    flash(request, f"Request #{request_id} withdrawn.")
    return RedirectResponse(base_path(request) + "requests", status_code=303)


# --- consortium leads ----------------------------------------------------------------------


def consortium_context(view: ConsortiumView) -> dict[str, Any]:
    shares = [(m.username, m.cpu_hours_share) for m in view.members]
    used = [(m.username, m.cpu_hours_used) for m in view.members]
    return {
        "c": view,
        "shares_chart": charts.bar_chart(shares, title="CPU-hour shares by member", unit="CPU-h"),
        "used_chart": charts.bar_chart(used, title="CPU-hours used by member", unit="CPU-h"),
        "errors": {},
        "values": {},
    }


@router.get("/consortia/{consortium_id}", response_class=HTMLResponse)
def consortium_page(request: Request, consortium_id: Id, viewer: Viewer) -> Response:
    view = in_thread_transaction(request, lambda svc: svc.consortia.view(viewer, consortium_id))
    return render(request, "consortium.html", consortium_context(view))


async def _consortium_change(
    request: Request,
    viewer: Identity,
    consortium_id: int,
    form_id: str,
    action: Callable[[Services, dict[str, str]], str],
) -> Response:
    """Run a lead's change (the service checks that `viewer` may); on a refusal re-render the
    page with the error next to the form."""
    data = await form_data(request)
    try:
        message = await in_transaction(request, lambda svc: action(svc, data))
    except ValidationError as exc:
        errors, status = field_errors(exc), 422
    except QuotaError as exc:
        if exc.status_code >= 500 or (
            exc.status_code in (401, 403, 404) and exc.code != "not_found"
        ):
            raise
        errors, status = {"__form__": exc.detail}, exc.status_code
    else:
        flash(request, message)
        return RedirectResponse(f"{base_path(request)}consortia/{consortium_id}", status_code=303)
    view = await in_transaction(request, lambda svc: svc.consortia.view(viewer, consortium_id))
    ctx = consortium_context(view)
    ctx.update(errors={form_id: errors}, values={form_id: data})
    return render(request, "consortium.html", ctx, status_code=status)


@router.post("/consortia/{consortium_id}/members", response_class=HTMLResponse)
async def add_member(request: Request, consortium_id: Id, viewer: Viewer) -> Response:
    def act(svc: Services, data: dict[str, str]) -> str:
        body = MemberIn.model_validate(clean(data, ("username", "role", "cpu_hours_share")))
        svc.consortia.add_member(
            viewer, consortium_id, body.username, body.role, body.cpu_hours_share
        )
        return f"{body.username} added as {body.role}."

    done = await _consortium_change(request, viewer, consortium_id, "add", act)
    if done.status_code == 303:  # added: a running team server is shared with them
        settings = request.app.state.settings
        await run_in_threadpool(sync_members, factory_of(request), settings, consortium_id)
    return done


@router.post("/consortia/{consortium_id}/members/{username}/share", response_class=HTMLResponse)
async def set_share(
    request: Request, consortium_id: Id, username: Username, viewer: Viewer
) -> Response:
    def act(svc: Services, data: dict[str, str]) -> str:
        body = ShareIn.model_validate(clean(data, ("cpu_hours_share",)))
        svc.consortia.set_share(viewer, consortium_id, username, body.cpu_hours_share)
        return f"{username}'s share is now {body.cpu_hours_share:g} CPU-hours."

    return await _consortium_change(request, viewer, consortium_id, f"share-{username}", act)


@router.post("/consortia/{consortium_id}/members/{username}/remove", response_class=HTMLResponse)
async def remove_member(
    request: Request, consortium_id: Id, username: Username, viewer: Viewer
) -> Response:
    def act(svc: Services, data: dict[str, str]) -> str:
        svc.consortia.remove_member(viewer, consortium_id, username)
        return f"{username} removed."

    done = await _consortium_change(request, viewer, consortium_id, f"remove-{username}", act)
    if done.status_code == 303:  # removed: their share of the team server goes too
        settings = request.app.state.settings
        await run_in_threadpool(sync_members, factory_of(request), settings, consortium_id)
    return done
