"""Team folder usage written by the scanner: one snapshot per team folder per scan, and the
bytes of that folder by file owner (uid, mapped back to a person by the uid rule)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class TeamUsageSnapshot(Base):
    __tablename__ = "team_usage_snapshots"
    __table_args__ = (Index("ix_team_usage_consortium_measured", "consortium_id", "measured_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    consortium_id: Mapped[int] = mapped_column(ForeignKey("consortia.id", ondelete="CASCADE"))
    measured_at: Mapped[datetime]
    bytes: Mapped[int] = mapped_column(BigInteger)
    files: Mapped[int] = mapped_column(BigInteger)
    issues: Mapped[int] = mapped_column(Integer)


class TeamOwnerUsage(Base):
    """Bytes of one team folder snapshot owned by one uid (`user_id` when the uid is a
    person's by the uid rule, NULL for root and uids no person has)."""

    __tablename__ = "team_owner_usage"

    id: Mapped[int] = mapped_column(primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("team_usage_snapshots.id", ondelete="CASCADE"), index=True
    )
    uid: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    bytes: Mapped[int] = mapped_column(BigInteger)
    files: Mapped[int] = mapped_column(BigInteger)
