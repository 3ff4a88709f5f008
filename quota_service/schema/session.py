"""Server sessions: opened by an allowed spawn, closed (and charged) at stop."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class ServerSession(Base):
    __tablename__ = "server_sessions"
    __table_args__ = (
        # One open session per (user, server name).
        Index(
            "uq_server_sessions_open_server",
            "user_id",
            "server_name",
            unique=True,
            postgresql_where=text("ended_at IS NULL"),
            sqlite_where=text("ended_at IS NULL"),
        ),
        Index("ix_server_sessions_allocation_open", "allocation_id", "ended_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    allocation_id: Mapped[int] = mapped_column(ForeignKey("allocations.id"))
    server_name: Mapped[str] = mapped_column(String(255))
    size: Mapped[str] = mapped_column(String(64))
    cpu_per_hour: Mapped[float] = mapped_column(Float)
    cleanup_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime]
    # Everything up to this instant has been charged (the reconciler charges as it goes).
    charged_until: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    cpu_hours_charged: Mapped[float] = mapped_column(Float, default=0.0)
    close_reason: Mapped[str | None] = mapped_column(String(64))
    warned_at: Mapped[datetime | None]
    # The environment release chosen at spawn (policy `releases`); NULL before releases.
    release: Mapped[str | None] = mapped_column(String(64))
