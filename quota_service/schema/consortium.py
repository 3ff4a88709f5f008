"""Consortia: a panel-approved pool that leads split among members."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class Consortium(Base):
    __tablename__ = "consortia"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    proposal_ref: Mapped[str | None] = mapped_column(String(255))
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("allocations.id"))
    created_at: Mapped[datetime]
    # The team folder and POSIX group (hub_config/teamdirs.py, settings `teams`): stored once
    # at creation, never derived again, never reused. NULL only for a row an older release
    # created during an upgrade; `services/teams.py` fills it on first use.
    team_dir: Mapped[str | None] = mapped_column(String(32), unique=True)
    gid: Mapped[int | None] = mapped_column(Integer, unique=True)
