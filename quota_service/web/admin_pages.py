"""The admin console: decide requests, grant/extend/revoke, find people, usage and the audit log.

Every change made by a browser signed in with the session cookie is confirmed on a page of its
own first (web/confirm.py says why); token-authenticated clients act at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ValidationError

from ..auth import Identity, require_admin
from ..errors import QuotaError
from ..factory import Services
from ..models.v1 import (
    MAX_ID,
    USERNAME_PATTERN,
    ApproveIn,
    DenyIn,
    ExtendIn,
    GrantIn,
    RevokeIn,
    StorableText,
)
from ..schema import RequestStatus
from ..services.team_lifecycle import ConsortiumRemovalService
from . import charts, confirm
from .pages import (
    factory_of,
    in_thread_transaction,
    in_transaction,
    load_overview,
    overview_context,
)
from .render import PageRoute, base_path, clean, field_errors, flash, form_data, page_identity
from .render import render as render_page

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
Username = Annotated[str, Path(pattern=USERNAME_PATTERN)]


async def admin_page_identity(
    identity: Annotated[Identity, Depends(page_identity)],
) -> Identity:
    return require_admin(identity)


Admin = Annotated[Identity, Depends(admin_page_identity)]
Viewer = Annotated[Identity, Depends(page_identity)]

APPROVE_FIELDS = (
    "cpu_hours",
    "home_quota_soft_gib",
    "home_quota_hard_gib",
    "term_days",
    "consortium_name",
    "note",
)
GRANT_FIELDS = (
    "username",
    "tier",
    "cpu_hours",
    "home_quota_soft_gib",
    "home_quota_hard_gib",
    "term_days",
    "reason",
)


def load_console(svc: Services, q: str = "", before_id: int | None = None) -> dict[str, Any]:
    """What the console shows, read in one transaction (charts are drawn after)."""
    pending = svc.requests.list_all(RequestStatus.pending)
    return {
        "pending": pending,
        "requesters": {r.username: svc.users.me(r.username) for r in pending},
        "report": svc.reports.usage(),
        "audit": svc.audit.list(limit=50, before_id=before_id),
        "q": q,
        "found": svc.users.search(q) if q else [],
        "consortia": svc.consortia.list_all(),
    }


def console_context(request: Request, loaded: dict[str, Any]) -> dict[str, Any]:
    policy = factory_of(request).policy
    report = loaded["report"]
    return {
        **loaded,
        "tier_chart": charts.bar_chart(
            [(r.key, r.cpu_hours) for r in report.by_tier],
            title="CPU-hours by tier",
            unit="CPU-h",
        ),
        "tier_cost_chart": charts.bar_chart(
            [(r.key, r.estimated_cost_usd) for r in report.by_tier],
            title="Estimated cost by tier",
            unit="USD",
        ),
        "alloc_chart": charts.bar_chart(
            [(r.key, r.cpu_hours) for r in report.by_allocation[:15]],
            title="CPU-hours by allocation (top 15)",
            unit="CPU-h",
        ),
        "tiers": {name: policy.tier(name) for name in ("research", "consortium")},
        "errors": {},
        "values": {},
    }


@router.get("/admin", response_class=HTMLResponse)
def console(
    request: Request,
    viewer: Admin,
    q: Annotated[StorableText, Query(max_length=255)] = "",
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    loaded = in_thread_transaction(request, lambda svc: load_console(svc, q, before_id))
    return render_page(request, "admin.html", console_context(request, loaded))


@dataclass(frozen=True)
class AdminAction:
    """One state-changing form of the console: its fields, its model, what it does."""

    name: str
    title: str
    model: type[BaseModel]
    fields: tuple[str, ...]
    run: Callable[[Services, Identity, int | None, Any], str]

    def form_id(self, target: int | None) -> str:
        return self.name if target is None else f"{self.name}-{target}"


# Each runs inside the one transaction `_apply` opens (`Factory.run`, on the event loop).
def _approve(svc: Services, viewer: Identity, target: int | None, body: Any) -> str:
    svc.requests.approve(viewer.actor, _id(target), body)
    return f"Request #{target} approved."


def _deny(svc: Services, viewer: Identity, target: int | None, body: Any) -> str:
    svc.requests.deny(viewer.actor, _id(target), body.note)
    return f"Request #{target} denied."


def _grant(svc: Services, viewer: Identity, target: int | None, body: Any) -> str:
    view = svc.allocations.grant(viewer.actor, body)
    return f"Granted {view.label} (#{view.id})."


def _extend(svc: Services, viewer: Identity, target: int | None, body: Any) -> str:
    view = svc.allocations.extend(viewer.actor, _id(target), body)
    return f"Extended {view.label} to {view.ends_at:%Y-%m-%d}." if view.ends_at else "Extended."


def _revoke(svc: Services, viewer: Identity, target: int | None, body: Any) -> str:
    view = svc.allocations.revoke(viewer.actor, _id(target), body.reason)
    return f"Revoked {view.label}."


def _remove_consortium(svc: Services, viewer: Identity, target: int | None, body: Any) -> str:
    view = ConsortiumRemovalService(svc.ctx).remove(viewer.actor, _id(target), body.reason)
    return (
        f"Removed consortium {view.name}: its team folder is archived through the purge "
        "pipeline, with notices to its leads and members."
    )


def _id(target: int | None) -> int:
    assert target is not None
    return target


ACTIONS = {
    a.name: a
    for a in (
        AdminAction("approve", "Approve request", ApproveIn, APPROVE_FIELDS, _approve),
        AdminAction("deny", "Deny request", DenyIn, ("note",), _deny),
        AdminAction("grant", "Grant an allocation", GrantIn, GRANT_FIELDS, _grant),
        AdminAction(
            "extend", "Extend allocation", ExtendIn, ("days", "cpu_hours", "reason"), _extend
        ),
        AdminAction("revoke", "Revoke allocation", RevokeIn, ("reason",), _revoke),
        AdminAction(
            "remove-consortium", "Remove consortium", RevokeIn, ("reason",), _remove_consortium
        ),
    )
}


def _back(request: Request, data: dict[str, str]) -> str:
    back = data.get("back", "")
    return back if back.startswith(base_path(request)) and not back.startswith("//") else ""


async def _refused(
    request: Request, back: str, form_id: str, data: dict[str, str], errors: Any, status: int
) -> Response:
    """Re-render the page the form came from, with the errors next to the form."""
    user_page = back.removeprefix(base_path(request) + "users/") if back else ""
    if user_page and "/" not in user_page:
        loaded = await in_transaction(request, lambda svc: load_overview(svc, user_page, own=False))
        ctx = user_context(request, loaded)
        template = "overview.html"
    else:
        ctx = console_context(request, await in_transaction(request, load_console))
        template = "admin.html"
    ctx.update(errors={form_id: errors}, values={form_id: data})
    return render_page(request, template, ctx, status_code=status)


async def _apply(
    request: Request,
    viewer: Identity,
    action: AdminAction,
    target: int | None,
    fields: dict[str, str],
    back: str,
) -> Response:
    try:
        body = action.model.model_validate(fields)
        message = await in_transaction(request, lambda svc: action.run(svc, viewer, target, body))
    except ValidationError as exc:
        return await _refused(request, back, action.form_id(target), fields, field_errors(exc), 422)
    except QuotaError as exc:
        if exc.status_code in (401, 403) or exc.status_code >= 500:
            raise
        errors = {"__form__": exc.detail}
        return await _refused(
            request, back, action.form_id(target), fields, errors, exc.status_code
        )
    flash(request, message)
    return RedirectResponse(back or base_path(request) + "admin", status_code=303)


async def _admin_change(
    request: Request, viewer: Identity, action: AdminAction, target: int | None
) -> Response:
    """Validate an admin form; a session-signed browser confirms it on a page of its own."""
    data = await form_data(request)
    back = _back(request, data)
    fields = clean(data, action.fields)
    if not confirm.by_session(request):
        return await _apply(request, viewer, action, target, fields, back)
    try:
        action.model.model_validate(fields)
    except ValidationError as exc:
        return await _refused(request, back, action.form_id(target), data, field_errors(exc), 422)
    confirm.require_top_navigation(request)
    nonce = confirm.issue(request, confirm.digest(action.name, target, fields, back))
    context = {
        "action": action,
        "target": target,
        "fields": fields,
        "back": back,
        "nonce": nonce,
        "minutes": confirm.TTL_SECONDS // 60,
    }
    return render_page(request, "admin_confirm.html", context)


@router.post("/admin/confirm", response_class=HTMLResponse)
async def confirm_change(request: Request, viewer: Admin) -> Response:
    """The click on a confirmation page: the one change it showed, once, while fresh."""
    data = await form_data(request)
    action = ACTIONS.get(data.get("action", ""))
    raw_target = data.get("target", "")
    if action is None or not (raw_target == "" or raw_target.isdigit()):
        raise confirm.ConfirmationRefused("unknown change; start again from the console")
    target = int(raw_target) if raw_target else None
    fields = {k[len("field:") :]: v for k, v in data.items() if k.startswith("field:")}
    back = _back(request, data)
    confirm.require_click(request)
    confirm.consume(
        request, data.get("confirmation", ""), confirm.digest(action.name, target, fields, back)
    )
    return await _apply(request, viewer, action, target, fields, back)


@router.post("/admin/requests/{request_id}/approve", response_class=HTMLResponse)
async def approve(request: Request, request_id: Id, viewer: Admin) -> Response:
    return await _admin_change(request, viewer, ACTIONS["approve"], request_id)


@router.post("/admin/requests/{request_id}/deny", response_class=HTMLResponse)
async def deny(request: Request, request_id: Id, viewer: Admin) -> Response:
    return await _admin_change(request, viewer, ACTIONS["deny"], request_id)


@router.post("/admin/allocations", response_class=HTMLResponse)
async def grant(request: Request, viewer: Admin) -> Response:
    return await _admin_change(request, viewer, ACTIONS["grant"], None)


@router.post("/admin/allocations/{allocation_id}/extend", response_class=HTMLResponse)
async def extend(request: Request, allocation_id: Id, viewer: Admin) -> Response:
    return await _admin_change(request, viewer, ACTIONS["extend"], allocation_id)


@router.post("/admin/allocations/{allocation_id}/revoke", response_class=HTMLResponse)
async def revoke(request: Request, allocation_id: Id, viewer: Admin) -> Response:
    return await _admin_change(request, viewer, ACTIONS["revoke"], allocation_id)


@router.post("/admin/consortia/{consortium_id}/remove", response_class=HTMLResponse)
async def remove_consortium(request: Request, consortium_id: Id, viewer: Admin) -> Response:
    return await _admin_change(request, viewer, ACTIONS["remove-consortium"], consortium_id)


def user_context(request: Request, loaded: dict[str, Any]) -> dict[str, Any]:
    ctx = overview_context(request, loaded)
    ctx.update(errors={}, values={})
    return ctx


@router.get("/users/{username}", response_class=HTMLResponse)
def user_page(request: Request, username: Username, viewer: Viewer) -> Response:
    if username == viewer.name:
        return RedirectResponse(base_path(request), status_code=302)
    require_admin(viewer)
    loaded = in_thread_transaction(request, lambda svc: load_overview(svc, username, own=False))
    return render_page(request, "overview.html", user_context(request, loaded))
