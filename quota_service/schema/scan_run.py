"""Sharded scans: one row per shard that finished, one row per run that all shards finished.

`ScanShard` is written in the same transaction as the shard's snapshots and is unique on
(run_id, shard_index): a rerun of a shard finds its earlier row, deletes the snapshots that row
recorded (by `measured_at`) and writes its own, so a shard's figures are counted once.
`ScanRun` is inserted once, by whichever shard (or `nexus-quota scan --combine`) first sees
every shard of the run recorded; its unique run_id makes that exactly once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class ScanShard(Base):
    __tablename__ = "scan_shards"
    __table_args__ = (UniqueConstraint("run_id", "shard_index", name="uq_scan_shards_run_shard"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(String(128))
    shard_index: Mapped[int] = mapped_column(Integer)
    shard_count: Mapped[int] = mapped_column(Integer)
    # The measured_at of the snapshots this shard wrote (users and team folders).
    measured_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    users: Mapped[int] = mapped_column(Integer)
    teams: Mapped[int] = mapped_column(Integer)
    errors: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=1)


class ScanRun(Base):
    __tablename__ = "scan_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(String(128), unique=True)
    shard_count: Mapped[int] = mapped_column(Integer)
    completed_at: Mapped[datetime]
    users: Mapped[int] = mapped_column(Integer)
    teams: Mapped[int] = mapped_column(Integer)
    errors: Mapped[int] = mapped_column(Integer)
