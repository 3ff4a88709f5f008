"""Removed consortia, and their team folders on their way through the purge pipeline.

A removal keeps who the team was (its leads and members when it was removed: they get the
notices) while their memberships go. The folder's manifest is a purge manifest like a home's
(same file format, digest, lock, notices by lead days, executor and archive), one row per
team folder in ``team_archives``: the per-person pipeline's rows name a person, these a team.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class ConsortiumRemoval(Base):
    __tablename__ = "consortium_removals"

    id: Mapped[int] = mapped_column(primary_key=True)
    consortium_id: Mapped[int] = mapped_column(
        ForeignKey("consortia.id", ondelete="CASCADE"), unique=True
    )
    removed_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    # The team folder's name when removed, and who was in the team: [{user_id, role}].
    team_dir: Mapped[str | None] = mapped_column(String(64))
    people: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class TeamArchive(Base):
    """One removed team's folder in the purge pipeline (statuses as `ManifestStatus`)."""

    __tablename__ = "team_archives"

    id: Mapped[int] = mapped_column(primary_key=True)
    consortium_id: Mapped[int] = mapped_column(
        ForeignKey("consortia.id", ondelete="CASCADE"), index=True
    )
    run_id: Mapped[int] = mapped_column(ForeignKey("purge_runs.id", ondelete="CASCADE"))
    team_dir: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64))
    entries: Mapped[int] = mapped_column(BigInteger)
    files: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    action_at: Mapped[datetime]
    first_notice_at: Mapped[datetime | None]
    # The notice lead days already sent to every recipient, e.g. [7, 1].
    leads_sent: Mapped[list[int]] = mapped_column(JSON)
    executed_at: Mapped[datetime | None]
    archive_bucket: Mapped[str] = mapped_column(String(255))
    archive_prefix: Mapped[str] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
