"""Admin endpoints: decide requests, manage allocations, look people up, report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from pydantic import AwareDatetime

from ..error_table import api_errors
from ..errors import InvalidInput
from ..models.v1 import (
    MAX_ID,
    USERNAME_PATTERN,
    AllocationView,
    ApproveIn,
    AuditView,
    ConsortiumIn,
    ConsortiumView,
    DenyIn,
    ExtendIn,
    GrantIn,
    MeView,
    RequestView,
    RevokeIn,
    StorableText,
    UsageReport,
    UserSummary,
)
from ..schema import RequestStatus
from ..services.team_lifecycle import ConsortiumRemovalService
from .deps import AdminDep, FactoryDep

router = APIRouter(prefix="/admin", tags=["admin"])
Id = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/requests", response_model=list[RequestView], responses=api_errors())
def list_requests(
    factory: FactoryDep,
    caller: AdminDep,
    status: RequestStatus | None = None,
) -> list[RequestView]:
    with factory.unit_of_work() as svc:
        return svc.requests.list_all(status)


@router.post(
    "/requests/{request_id}/approve", response_model=RequestView, responses=api_errors(404, 409)
)
def approve(request_id: Id, body: ApproveIn, factory: FactoryDep, caller: AdminDep) -> RequestView:
    with factory.unit_of_work() as svc:
        return svc.requests.approve(caller.actor, request_id, body)


@router.post(
    "/requests/{request_id}/deny", response_model=RequestView, responses=api_errors(404, 409)
)
def deny(request_id: Id, body: DenyIn, factory: FactoryDep, caller: AdminDep) -> RequestView:
    with factory.unit_of_work() as svc:
        return svc.requests.deny(caller.actor, request_id, body.note)


@router.post(
    "/allocations",
    response_model=AllocationView,
    status_code=status.HTTP_201_CREATED,
    responses=api_errors(404, 409),
)
def grant(body: GrantIn, factory: FactoryDep, caller: AdminDep) -> AllocationView:
    with factory.unit_of_work() as svc:
        return svc.allocations.grant(caller.actor, body)


@router.post(
    "/allocations/{allocation_id}/extend",
    response_model=AllocationView,
    responses=api_errors(404, 409),
)
def extend(
    allocation_id: Id, body: ExtendIn, factory: FactoryDep, caller: AdminDep
) -> AllocationView:
    with factory.unit_of_work() as svc:
        return svc.allocations.extend(caller.actor, allocation_id, body)


@router.post(
    "/allocations/{allocation_id}/revoke",
    response_model=AllocationView,
    responses=api_errors(404, 409),
)
def revoke(
    allocation_id: Id, body: RevokeIn, factory: FactoryDep, caller: AdminDep
) -> AllocationView:
    with factory.unit_of_work() as svc:
        return svc.allocations.revoke(caller.actor, allocation_id, body.reason)


@router.get("/users", response_model=list[UserSummary], responses=api_errors())
def search_users(
    factory: FactoryDep,
    caller: AdminDep,
    q: Annotated[StorableText, Query(max_length=255)] = "",
) -> list[UserSummary]:
    with factory.unit_of_work() as svc:
        return svc.users.search(q)


@router.get("/users/{username}", response_model=MeView, responses=api_errors(404))
def show_user(
    username: Annotated[str, Path(pattern=USERNAME_PATTERN)],
    factory: FactoryDep,
    caller: AdminDep,
) -> MeView:
    with factory.unit_of_work() as svc:
        svc.users.get(username)
        return svc.users.me(username)


@router.get("/reports/usage", response_model=UsageReport, responses=api_errors())
def usage_report(
    factory: FactoryDep,
    caller: AdminDep,
    since: Annotated[
        AwareDatetime | None, Query(description="ISO 8601 with an offset, e.g. ...Z")
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="ISO 8601 with an offset, e.g. ...Z")
    ] = None,
) -> UsageReport:
    since, until = _utc(since, "since"), _utc(until, "until")
    if since is not None and until is not None and since > until:
        raise InvalidInput("since is after until")
    with factory.unit_of_work() as svc:
        return svc.reports.usage(since, until)


def _utc(value: datetime | None, name: str) -> datetime | None:
    """Offset-aware only (naive values are a 422 before this), in UTC as the database is."""
    if value is None:
        return None
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"{name}: {value.isoformat()} is out of range in UTC") from None


@router.get("/audit", response_model=list[AuditView], responses=api_errors())
def audit_log(
    factory: FactoryDep,
    caller: AdminDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> list[AuditView]:
    with factory.unit_of_work() as svc:
        return svc.audit.list(limit=limit, before_id=before_id)


@router.post(
    "/consortia",
    response_model=ConsortiumView,
    status_code=status.HTTP_201_CREATED,
    responses=api_errors(409),
)
def create_consortium(body: ConsortiumIn, factory: FactoryDep, caller: AdminDep) -> ConsortiumView:
    with factory.unit_of_work() as svc:
        return svc.consortia.create(
            caller.actor,
            name=body.name,
            proposal_ref=body.proposal_ref,
            cpu_hours=body.cpu_hours,
            home_quota_soft_gib=body.home_quota_soft_gib,
            home_quota_hard_gib=body.home_quota_hard_gib,
            term_days=body.term_days,
            leads=body.leads,
            reason=body.reason,
        )


@router.post(
    "/consortia/{consortium_id}/remove",
    response_model=ConsortiumView,
    responses=api_errors(404, 409),
)
def remove_consortium(
    consortium_id: Id, body: RevokeIn, factory: FactoryDep, caller: AdminDep
) -> ConsortiumView:
    """Remove a consortium: its allocations are revoked, its members lose the team folder from
    their next start, and the folder is archived through the purge pipeline (with notices)."""
    with factory.unit_of_work() as svc:
        return ConsortiumRemovalService(svc.ctx).remove(caller.actor, consortium_id, body.reason)
