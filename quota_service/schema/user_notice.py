"""In-app notices shown to a person (expiry warnings, purge warnings, decisions)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class UserNotice(Base):
    __tablename__ = "user_notices"
    __table_args__ = (Index("ix_user_notices_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    # Makes scheduled notices idempotent: a job rerun sends nothing twice.
    dedupe_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    due_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]
