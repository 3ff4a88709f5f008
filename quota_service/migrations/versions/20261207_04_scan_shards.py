"""Sharded storage scans: a row per finished shard, a row per combined run (issue 19 part 2)

Revision ID: 20261207_04_scan_shards
Revises: 20261207_03_team_storage
Create Date: 2026-12-07 05:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from quota_service.migrations import compat

revision: str = "20261207_04_scan_shards"
down_revision: str | None = "20261207_03_team_storage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# New tables only: older code never reads them.
schema_kind: compat.Kind = "expand"


def upgrade() -> None:
    op.create_table(
        "scan_shards",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.String(128), nullable=False),
        sa.Column("shard_index", sa.Integer(), nullable=False),
        sa.Column("shard_count", sa.Integer(), nullable=False),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("users", sa.Integer(), nullable=False),
        sa.Column("teams", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.UniqueConstraint("run_id", "shard_index", name="uq_scan_shards_run_shard"),
    )
    op.create_table(
        "scan_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.String(128), nullable=False, unique=True),
        sa.Column("shard_count", sa.Integer(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("users", sa.Integer(), nullable=False),
        sa.Column("teams", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
    )
    compat.record(revision, down_revision, schema_kind)


def downgrade() -> None:
    compat.forget(revision)
    op.drop_table("scan_runs")
    op.drop_table("scan_shards")
