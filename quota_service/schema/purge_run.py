"""One run of the purge planner: the manifests it wrote share its run id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class PurgeRun(Base):
    __tablename__ = "purge_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(255))
    # Where the run's manifests and journals live (a directory on the job's volume).
    manifest_dir: Mapped[str] = mapped_column(Text)
    # The earliest time any of its manifests may be acted on (plan time + the longest lead).
    action_at: Mapped[datetime]
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
