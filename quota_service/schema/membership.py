"""Consortium membership with the roles lead and member."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Enum, ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class MemberRole(StrEnum):
    lead = "lead"
    member = "member"


class ConsortiumMember(Base):
    __tablename__ = "consortium_members"
    __table_args__ = (UniqueConstraint("consortium_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    consortium_id: Mapped[int] = mapped_column(ForeignKey("consortia.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[MemberRole] = mapped_column(
        Enum(MemberRole, name="member_role", values_callable=lambda e: [m.value for m in e])
    )
    sub_allocation_id: Mapped[int | None] = mapped_column(ForeignKey("allocations.id"))
    created_at: Mapped[datetime]
