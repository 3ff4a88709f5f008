"""The admin console: decide requests, grant/extend/revoke, find people, usage and the audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from ..auth import Identity, require_admin
from ..errors import QuotaError
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
from . import charts
from .pages import factory_of, overview_context
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


def console_context(request: Request, q: str = "", before_id: int | None = None) -> dict[str, Any]:
    with factory_of(request).unit_of_work() as svc:
        pending = svc.requests.list_all(RequestStatus.pending)
        requesters = {r.username: svc.users.me(r.username) for r in pending}
        report = svc.reports.usage()
        audit = svc.audit.list(limit=50, before_id=before_id)
        found = svc.users.search(q) if q else []
        consortia = svc.consortia.list_all()
    policy = factory_of(request).policy
    return {
        "pending": pending,
        "requesters": requesters,
        "report": report,
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
        "audit": audit,
        "q": q,
        "found": found,
        "consortia": consortia,
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
    return render_page(request, "admin.html", console_context(request, q, before_id))


async def _admin_change(
    request: Request, form_id: str, fields: tuple[str, ...], act: Any
) -> Response:
    """Validate and apply an admin form; on refusal re-render the page it came from."""
    data = await form_data(request)
    back = data.get("back", "")
    target = back if back.startswith(base_path(request)) and not back.startswith("//") else ""
    try:
        message = act(clean(data, fields))
    except ValidationError as exc:
        errors, status = field_errors(exc), 422
    except QuotaError as exc:
        if exc.status_code in (401, 403):
            raise
        errors, status = {"__form__": exc.detail}, exc.status_code
    else:
        flash(request, message)
        return RedirectResponse(target or base_path(request) + "admin", status_code=303)
    user_page = target.removeprefix(base_path(request) + "users/") if target else ""
    if user_page and "/" not in user_page:
        ctx = user_context(request, user_page)
        template = "overview.html"
    else:
        ctx = console_context(request)
        template = "admin.html"
    ctx.update(errors={form_id: errors}, values={form_id: data})
    return render_page(request, template, ctx, status_code=status)


@router.post("/admin/requests/{request_id}/approve", response_class=HTMLResponse)
async def approve(request: Request, request_id: Id, viewer: Admin) -> Response:
    def act(data: dict[str, str]) -> str:
        body = ApproveIn.model_validate(data)
        with factory_of(request).unit_of_work() as svc:
            svc.requests.approve(viewer.actor, request_id, body)
        return f"Request #{request_id} approved."

    return await _admin_change(request, f"approve-{request_id}", APPROVE_FIELDS, act)


@router.post("/admin/requests/{request_id}/deny", response_class=HTMLResponse)
async def deny(request: Request, request_id: Id, viewer: Admin) -> Response:
    def act(data: dict[str, str]) -> str:
        body = DenyIn.model_validate(data)
        with factory_of(request).unit_of_work() as svc:
            svc.requests.deny(viewer.actor, request_id, body.note)
        return f"Request #{request_id} denied."

    return await _admin_change(request, f"deny-{request_id}", ("note",), act)


@router.post("/admin/allocations", response_class=HTMLResponse)
async def grant(request: Request, viewer: Admin) -> Response:
    def act(data: dict[str, str]) -> str:
        body = GrantIn.model_validate(data)
        with factory_of(request).unit_of_work() as svc:
            view = svc.allocations.grant(viewer.actor, body)
        return f"Granted {view.label} (#{view.id})."

    return await _admin_change(request, "grant", GRANT_FIELDS, act)


@router.post("/admin/allocations/{allocation_id}/extend", response_class=HTMLResponse)
async def extend(request: Request, allocation_id: Id, viewer: Admin) -> Response:
    def act(data: dict[str, str]) -> str:
        body = ExtendIn.model_validate(data)
        with factory_of(request).unit_of_work() as svc:
            view = svc.allocations.extend(viewer.actor, allocation_id, body)
        return f"Extended {view.label} to {view.ends_at:%Y-%m-%d}." if view.ends_at else "Extended."

    return await _admin_change(
        request, f"extend-{allocation_id}", ("days", "cpu_hours", "reason"), act
    )


@router.post("/admin/allocations/{allocation_id}/revoke", response_class=HTMLResponse)
async def revoke(request: Request, allocation_id: Id, viewer: Admin) -> Response:
    def act(data: dict[str, str]) -> str:
        body = RevokeIn.model_validate(data)
        with factory_of(request).unit_of_work() as svc:
            view = svc.allocations.revoke(viewer.actor, allocation_id, body.reason)
        return f"Revoked {view.label}."

    return await _admin_change(request, f"revoke-{allocation_id}", ("reason",), act)


def user_context(request: Request, username: str) -> dict[str, Any]:
    ctx = overview_context(request, username, own=False)
    ctx.update(errors={}, values={})
    return ctx


@router.get("/users/{username}", response_class=HTMLResponse)
def user_page(request: Request, username: Username, viewer: Viewer) -> Response:
    if username == viewer.name:
        return RedirectResponse(base_path(request), status_code=302)
    require_admin(viewer)
    return render_page(request, "overview.html", user_context(request, username))
