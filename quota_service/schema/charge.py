"""The CPU-hour ledger: one row per charge; append-only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class Charge(Base):
    __tablename__ = "charges"
    __table_args__ = (Index("ix_charges_allocation_at", "allocation_id", "charged_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    allocation_id: Mapped[int] = mapped_column(ForeignKey("allocations.id"))
    # The pool a sub-allocation's charge also counts against.
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("allocations.id"))
    session_id: Mapped[int | None] = mapped_column(ForeignKey("server_sessions.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    tier: Mapped[str] = mapped_column(String(32))
    size: Mapped[str] = mapped_column(String(64))
    cpu_hours: Mapped[float] = mapped_column(Float)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    charged_at: Mapped[datetime]
