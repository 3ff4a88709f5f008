"""One user's manifest in a purge run: what it touches, why, when, and what became of it.

The entries themselves live in the manifest file (JSON lines, paths as base64) at `path`;
the row keeps the summary people and jobs query, the state of the pipeline, and the file's
digest: the file is acted on only while it is byte for byte the one planned.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class ManifestStatus(StrEnum):
    planned = "planned"  # written, no notice yet
    notified = "notified"  # at least one notice sent; waiting for its lead time
    done = "done"  # executed; every entry done, absent or kept
    partial = "partial"  # executed with errors; the next execute run finishes it
    restored = "restored"  # an archived home brought back
    cancelled = "cancelled"  # withdrawn by an admin (never executed)


PENDING_STATUSES = (ManifestStatus.planned, ManifestStatus.notified)


class PurgeManifest(Base):
    __tablename__ = "purge_manifests"
    __table_args__ = (
        Index("ix_purge_manifests_user_status", "user_id", "status"),
        Index("ix_purge_manifests_status_action", "status", "action_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("purge_runs.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    area: Mapped[str] = mapped_column(String(16))  # home | scratch
    reason: Mapped[str] = mapped_column(String(64))
    why: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(Text)
    entries: Mapped[int] = mapped_column(BigInteger)
    files: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[ManifestStatus] = mapped_column(
        Enum(
            ManifestStatus,
            name="purge_manifest_status",
            values_callable=lambda e: [m.value for m in e],
            length=32,
        )
    )
    created_at: Mapped[datetime]
    action_at: Mapped[datetime]
    first_notice_at: Mapped[datetime | None]
    executed_at: Mapped[datetime | None]
    restored_at: Mapped[datetime | None]
    archive_bucket: Mapped[str | None] = mapped_column(String(255))
    archive_prefix: Mapped[str | None] = mapped_column(Text)
    # SHA-256 (hex) of the whole manifest file as the plan wrote it; NULL for rows planned
    # before 20261123_01 (docs/security-purge.md says how those are treated).
    digest: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
