"""Upgrade and renewal requests: filing, withdrawing, and the admin's decision."""

from __future__ import annotations

import math
from datetime import UTC, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..errors import Conflict, InvalidInput, NotFound, PermissionDenied
from ..limits import RateLimited
from ..models.v1 import ApproveIn, RequestIn, RequestView
from ..policy import TierName
from ..schema import (
    Allocation,
    AllocationKind,
    AllocationRequest,
    AllocationStatus,
    RequestKind,
    RequestStatus,
    User,
)
from .audit import AuditService
from .base import ServiceContext
from .consortia import ConsortiumService
from .notices import NoticeService
from .users import UserService, request_view


def allocation_snapshot(a: Allocation) -> dict[str, object]:
    return {
        "id": a.id,
        "tier": a.tier,
        "kind": a.kind.value,
        "status": a.status.value,
        "starts_at": a.starts_at.isoformat(),
        "ends_at": a.ends_at.isoformat() if a.ends_at else None,
        "cpu_hours_budget": a.cpu_hours_budget,
        "cpu_hours_used": a.cpu_hours_used,
        "home_quota_soft_gib": a.home_quota_soft_gib,
        "home_quota_hard_gib": a.home_quota_hard_gib,
    }


# Requests one person may file in any 24 hours (settings: limits.requests_per_day): each one
# reaches the admins, and filing and withdrawing must not be a way to flood them.
FILINGS_PER_DAY = 10
FILING_WINDOW = timedelta(hours=24)


class RequestService:
    def __init__(self, ctx: ServiceContext, *, filings_per_day: int = FILINGS_PER_DAY) -> None:
        self.ctx = ctx
        self.filings_per_day = filings_per_day
        self.users = UserService(ctx)
        self.audit = AuditService(ctx)

    def create(self, username: str, data: RequestIn) -> RequestView:
        """File an upgrade or renewal request for `username`.

        Raises:
            InvalidInput: A Consortium request without `proposal_ref`
                (`proposal_ref_required`); a renewal that names no allocation
                (`allocation_required`), names one of another tier (`tier_mismatch`) or one
                that cannot be renewed by request (`not_renewable`).
            NotFound: `allocation_id` is not one of the requester's allocations.
            Conflict: The allocation to renew was revoked (`allocation_revoked`), or the
                requester already has a pending request for the tier (`request_pending`).
            RateLimited: The requester filed `filings_per_day` requests in the last 24 hours
                (`too_many_requests_filed`).
        """
        user = self.users.ensure(username)
        tier = self.ctx.policy.tier(data.tier)
        if data.tier == TierName.consortium and not data.proposal_ref:
            raise InvalidInput(
                "a Consortium request needs the panel's proposal reference (proposal_ref)",
                code="proposal_ref_required",
            )
        allocation: Allocation | None = None
        if data.allocation_id is not None:
            # Whatever the kind, a request names only the requester's own allocation.
            allocation = self.ctx.session.get(Allocation, data.allocation_id)
            if allocation is None or allocation.owner_id != user.id:
                raise NotFound(f"allocation {data.allocation_id} is not one of yours")
        if data.kind == RequestKind.renewal:
            if allocation is None:
                raise InvalidInput(
                    "a renewal names the allocation to renew (allocation_id)",
                    code="allocation_required",
                )
            if allocation.tier != data.tier:
                raise InvalidInput(
                    f"allocation {allocation.id} is a {allocation.tier} allocation, "
                    f"not {data.tier}",
                    code="tier_mismatch",
                )
            if not tier.renewable or allocation.kind != AllocationKind.personal:
                raise InvalidInput(
                    f"{allocation.label} cannot be renewed by request", code="not_renewable"
                )
            if allocation.status == AllocationStatus.revoked:
                raise Conflict(f"{allocation.label} was revoked", code="allocation_revoked")
        self._check_filing_rate(user)
        pending = self.ctx.session.scalar(
            select(AllocationRequest).where(
                AllocationRequest.user_id == user.id,
                AllocationRequest.tier == data.tier,
                AllocationRequest.status == RequestStatus.pending,
            )
        )
        if pending is not None:
            raise Conflict(
                f"you already have a pending {data.tier} request (#{pending.id}); withdraw it "
                "or wait for the decision",
                code="request_pending",
            )
        req = AllocationRequest(
            user_id=user.id,
            tier=data.tier,
            kind=RequestKind(data.kind),
            status=RequestStatus.pending,
            justification=data.justification,
            proposal_ref=data.proposal_ref,
            allocation_id=data.allocation_id,
            requested_cpu_hours=data.requested_cpu_hours,
            created_at=self.ctx.now(),
        )
        try:
            with self.ctx.session.begin_nested():
                self.ctx.session.add(req)
                self.ctx.session.flush()
        except IntegrityError:
            raise Conflict(
                f"you already have a pending {data.tier} request", code="request_pending"
            ) from None
        if (
            data.kind == RequestKind.renewal
            and allocation is not None
            and allocation.status == AllocationStatus.active
        ):
            allocation.status = AllocationStatus.renewal_requested
        return request_view(req, user.username)

    def _check_filing_rate(self, user: User) -> None:
        since = self.ctx.now() - FILING_WINDOW
        recent = list(
            self.ctx.session.scalars(
                select(AllocationRequest.created_at)
                .where(AllocationRequest.user_id == user.id, AllocationRequest.created_at > since)
                .order_by(AllocationRequest.created_at.desc())
                .limit(self.filings_per_day)
            )
        )
        if len(recent) < self.filings_per_day:
            return
        oldest = recent[-1]
        oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
        wait = (oldest + FILING_WINDOW - self.ctx.now()).total_seconds()
        raise RateLimited(
            f"you filed {self.filings_per_day} requests in the last 24 hours, the most one "
            f"person may; you can file again after {(oldest + FILING_WINDOW):%Y-%m-%d %H:%M} "
            "UTC",
            retry_after=max(1, math.ceil(wait)),
            code="too_many_requests_filed",
        )

    def list_for(self, username: str) -> list[RequestView]:
        user = self.users.ensure(username)
        rows = self.ctx.session.scalars(
            select(AllocationRequest)
            .where(AllocationRequest.user_id == user.id)
            .order_by(AllocationRequest.id.desc())
        )
        return [request_view(r, username) for r in rows]

    def list_all(self, status: RequestStatus | None = None, limit: int = 200) -> list[RequestView]:
        query = (
            select(AllocationRequest, User.username)
            .join(User, User.id == AllocationRequest.user_id)
            .order_by(AllocationRequest.id)
            .limit(limit)
        )
        if status is not None:
            query = query.where(AllocationRequest.status == status)
        return [request_view(r, name) for r, name in self.ctx.session.execute(query)]

    def _get(self, request_id: int) -> tuple[AllocationRequest, User]:
        req = self.ctx.session.get(AllocationRequest, request_id)
        if req is None:
            raise NotFound(f"no request #{request_id}")
        user = self.ctx.session.get(User, req.user_id)
        assert user is not None
        return req, user

    def _claim(self, request_id: int, status: RequestStatus, actor: str, note: str | None) -> None:
        """Move a pending request to `status`; exactly one concurrent caller wins."""
        result = self.ctx.session.execute(
            update(AllocationRequest)
            .where(
                AllocationRequest.id == request_id,
                AllocationRequest.status == RequestStatus.pending,
            )
            .values(status=status, decided_by=actor, decided_at=self.ctx.now(), decision_note=note)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            req, _ = self._get(request_id)
            raise Conflict(
                f"request #{request_id} is already {req.status.value}", code="already_decided"
            )

    def withdraw(self, username: str, request_id: int) -> RequestView:
        """Withdraw one of the person's own pending requests.

        Raises:
            NotFound: There is no request `request_id`.
            PermissionDenied: The request is someone else's.
            Conflict: The request is no longer pending (`already_decided`).
        """
        req, user = self._get(request_id)
        if user.username != username:
            raise PermissionDenied("you can only withdraw your own requests")
        self._claim(request_id, RequestStatus.withdrawn, username, None)
        self._restore_renewal_status(req)
        self.ctx.session.refresh(req)
        return request_view(req, username)

    def _restore_renewal_status(self, req: AllocationRequest) -> None:
        """Undo what filing `req` did, and nothing else: only a renewal of the requester's
        own allocation marks it renewal-requested, and another pending renewal of it keeps
        the mark (rows filed before the ownership check may name anyone's allocation)."""
        if req.kind != RequestKind.renewal or req.allocation_id is None:
            return
        alloc = self.ctx.session.get(Allocation, req.allocation_id)
        if (
            alloc is None
            or alloc.owner_id != req.user_id
            or alloc.status != AllocationStatus.renewal_requested
        ):
            return
        other = self.ctx.session.scalar(
            select(AllocationRequest.id).where(
                AllocationRequest.allocation_id == alloc.id,
                AllocationRequest.kind == RequestKind.renewal,
                AllocationRequest.status == RequestStatus.pending,
                AllocationRequest.id != req.id,
            )
        )
        if other is None:
            alloc.status = AllocationStatus.active

    def deny(self, actor: str, request_id: int, note: str) -> RequestView:
        """Deny a pending request (an admin decision) and tell the requester.

        Raises:
            NotFound: There is no request `request_id`.
            Conflict: The request is no longer pending (`already_decided`).
        """
        req, user = self._get(request_id)
        self._claim(request_id, RequestStatus.denied, actor, note)
        self._restore_renewal_status(req)
        self.ctx.session.refresh(req)
        self.audit.record(
            actor=actor,
            action="request.deny",
            target_type="request",
            target_id=request_id,
            before={"status": "pending"},
            after={"status": "denied"},
            reason=note,
        )
        NoticeService(self.ctx).post(
            user, "request", f"Your {req.tier} request #{req.id} was denied: {note}"
        )
        return request_view(req, user.username)

    def approve(self, actor: str, request_id: int, data: ApproveIn) -> RequestView:
        """Approve a pending request (an admin decision): renew the allocation, create the
        consortium, or grant the Research allocation; then tell the requester.

        Raises:
            NotFound: There is no request `request_id`, or the allocation a renewal names no
                longer exists.
            Conflict: The request is no longer pending (`already_decided`); the allocation
                to renew was revoked (`revoked`); or a consortium of that name exists
                (`duplicate_name`, from `ConsortiumService.create`).
            InvalidInput: `home_quota_soft_gib` exceeds `home_quota_hard_gib`
                (`quota_order`); a Consortium approval without `cpu_hours` or
                `home_quota_hard_gib` (`pool_required`); or a consortium name that breaks
                the naming rule (`invalid_consortium_name`, from `ConsortiumService.create`).
        """
        req, user = self._get(request_id)
        self._claim(request_id, RequestStatus.approved, actor, data.note)
        self.ctx.session.refresh(req)
        if req.kind == RequestKind.renewal and req.allocation_id is not None:
            allocation = self._renew(req, data)
        elif req.tier == TierName.consortium:
            allocation = self._create_consortium(actor, req, user, data)
        else:
            allocation = self._grant_research(req, user, data)
        req.result_allocation_id = allocation.id
        self.audit.record(
            actor=actor,
            action=f"request.approve.{req.kind.value}",
            target_type="request",
            target_id=request_id,
            before={"status": "pending"},
            after={"status": "approved", "allocation": allocation_snapshot(allocation)},
            reason=data.note,
        )
        NoticeService(self.ctx).post(
            user,
            "request",
            f"Your {req.tier} request #{req.id} was approved: {allocation.label}"
            + (f" until {allocation.ends_at.date().isoformat()}" if allocation.ends_at else ""),
        )
        return request_view(req, user.username)

    def _term(self, tier_name: str, data: ApproveIn) -> timedelta | None:
        days = data.term_days or self.ctx.policy.tier(tier_name).term_days
        return timedelta(days=days) if days else None

    def _check_quota(self, data: ApproveIn) -> None:
        soft, hard = data.home_quota_soft_gib, data.home_quota_hard_gib
        if soft is not None and hard is not None and soft > hard:
            raise InvalidInput(
                f"home_quota_soft_gib {soft} exceeds home_quota_hard_gib {hard}",
                code="quota_order",
            )

    def _grant_research(self, req: AllocationRequest, user: User, data: ApproveIn) -> Allocation:
        self._check_quota(data)
        now = self.ctx.now()
        term = self._term(req.tier, data)
        allocation = Allocation(
            kind=AllocationKind.personal,
            tier=req.tier,
            status=AllocationStatus.active,
            label=f"{self.ctx.policy.tier(req.tier).display_name} ({user.username})",
            owner_id=user.id,
            starts_at=now,
            ends_at=now + term if term else None,
            cpu_hours_budget=data.cpu_hours,
            home_quota_soft_gib=data.home_quota_soft_gib,
            home_quota_hard_gib=data.home_quota_hard_gib,
            cpu_hours_used=0.0,
            period_started_at=now,
            created_at=now,
            updated_at=now,
        )
        self.ctx.session.add(allocation)
        self.ctx.session.flush()
        return allocation

    def _renew(self, req: AllocationRequest, data: ApproveIn) -> Allocation:
        self._check_quota(data)
        alloc = self.ctx.session.get(Allocation, req.allocation_id)
        if alloc is None:
            raise NotFound(f"allocation {req.allocation_id} no longer exists")
        if alloc.status == AllocationStatus.revoked:
            raise Conflict(f"{alloc.label} was revoked and cannot be renewed", code="revoked")
        now = self.ctx.now()
        term = self._term(alloc.tier, data) or timedelta(days=365)
        start = max(now, alloc.ends_at) if alloc.ends_at else now
        alloc.ends_at = start + term
        alloc.status = AllocationStatus.active
        # A renewal is a new term with a fresh budget.
        alloc.cpu_hours_used = 0.0
        alloc.period_started_at = now
        if data.cpu_hours is not None:
            alloc.cpu_hours_budget = data.cpu_hours
        if data.home_quota_soft_gib is not None:
            alloc.home_quota_soft_gib = data.home_quota_soft_gib
        if data.home_quota_hard_gib is not None:
            alloc.home_quota_hard_gib = data.home_quota_hard_gib
        alloc.updated_at = now
        return alloc

    def _create_consortium(
        self, actor: str, req: AllocationRequest, user: User, data: ApproveIn
    ) -> Allocation:
        if data.cpu_hours is None or data.home_quota_hard_gib is None:
            raise InvalidInput(
                "approving a Consortium proposal sets the pool: give cpu_hours and "
                "home_quota_soft_gib/home_quota_hard_gib",
                code="pool_required",
            )
        self._check_quota(data)
        name = data.consortium_name or req.proposal_ref or f"consortium-{req.id}"
        consortium = ConsortiumService(self.ctx).create(
            actor,
            name=name,
            proposal_ref=req.proposal_ref,
            cpu_hours=data.cpu_hours,
            home_quota_soft_gib=data.home_quota_soft_gib or data.home_quota_hard_gib,
            home_quota_hard_gib=data.home_quota_hard_gib,
            term_days=data.term_days or 365,
            leads=[user.username],
            reason=f"request #{req.id} approved",
        )
        pool = self.ctx.session.get(Allocation, consortium.pool.id)
        assert pool is not None
        return pool
