"""Allocations: personal Entry/Research ones, consortium pools and members' sub-allocations."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Enum, Float, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class AllocationKind(StrEnum):
    personal = "personal"
    pool = "pool"
    sub = "sub"


class AllocationStatus(StrEnum):
    new = "new"
    active = "active"
    renewal_requested = "renewal-requested"
    expired = "expired"
    revoked = "revoked"


# Statuses in which an allocation can be charged.
USABLE_STATUSES = (AllocationStatus.active, AllocationStatus.renewal_requested)


def _enum(cls: type[StrEnum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e], length=32)


class Allocation(Base):
    __tablename__ = "allocations"
    __table_args__ = (
        Index("ix_allocations_owner_status", "owner_id", "status"),
        Index("ix_allocations_parent", "parent_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[AllocationKind] = mapped_column(_enum(AllocationKind, "allocation_kind"))
    tier: Mapped[str] = mapped_column(String(32))
    status: Mapped[AllocationStatus] = mapped_column(_enum(AllocationStatus, "allocation_status"))
    label: Mapped[str] = mapped_column(String(255))
    # Personal and sub-allocations have an owner; pools do not.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Sub-allocations point at their consortium pool.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("allocations.id"))
    # Not a foreign key: consortia.pool_id already points here, and a cycle would complicate
    # table creation order.
    consortium_id: Mapped[int | None] = mapped_column(index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    # Overrides of the tier's defaults; None means "use the tier policy".
    cpu_hours_budget: Mapped[float | None] = mapped_column(Float)
    home_quota_soft_gib: Mapped[float | None] = mapped_column(Float)
    home_quota_hard_gib: Mapped[float | None] = mapped_column(Float)
    # The running CPU-hour counter for the current budget period (the ledger is the record).
    cpu_hours_used: Mapped[float] = mapped_column(Float, default=0.0)
    period_started_at: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
