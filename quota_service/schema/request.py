"""Upgrade and renewal requests, and their decisions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Enum, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class RequestStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    denied = "denied"
    withdrawn = "withdrawn"


class RequestKind(StrEnum):
    upgrade = "upgrade"
    renewal = "renewal"


class AllocationRequest(Base):
    __tablename__ = "allocation_requests"
    __table_args__ = (
        # At most one pending request per user and tier, enforced by the database.
        Index(
            "uq_allocation_requests_pending_per_tier",
            "user_id",
            "tier",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_allocation_requests_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    tier: Mapped[str] = mapped_column(String(32))
    kind: Mapped[RequestKind] = mapped_column(
        Enum(RequestKind, name="request_kind", values_callable=lambda e: [m.value for m in e])
    )
    status: Mapped[RequestStatus] = mapped_column(
        Enum(RequestStatus, name="request_status", values_callable=lambda e: [m.value for m in e])
    )
    justification: Mapped[str] = mapped_column(Text)
    proposal_ref: Mapped[str | None] = mapped_column(String(255))
    # For renewals: the allocation to renew.
    allocation_id: Mapped[int | None] = mapped_column(ForeignKey("allocations.id"))
    requested_cpu_hours: Mapped[float | None] = mapped_column(Float)
    decision_note: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(255))
    decided_at: Mapped[datetime | None]
    result_allocation_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
