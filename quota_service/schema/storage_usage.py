"""Storage-usage snapshots written by the scanner (one row per user per scan)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class StorageUsageSnapshot(Base):
    __tablename__ = "storage_usage_snapshots"
    __table_args__ = (Index("ix_storage_usage_user_measured", "user_id", "measured_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    measured_at: Mapped[datetime]
    home_bytes: Mapped[int] = mapped_column(BigInteger)
    home_files: Mapped[int] = mapped_column(BigInteger)
    scratch_bytes: Mapped[int] = mapped_column(BigInteger)
    scratch_files: Mapped[int] = mapped_column(BigInteger)
    newest_atime: Mapped[datetime | None]
    newest_mtime: Mapped[datetime | None]
    over_soft: Mapped[bool] = mapped_column(Boolean)
    over_hard: Mapped[bool] = mapped_column(Boolean)
