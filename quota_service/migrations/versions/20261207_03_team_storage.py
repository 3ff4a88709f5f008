"""Team folder usage by owner, removed consortia and their team folder archives (issue 17 part 2)

Revision ID: 20261207_03_team_storage
Revises: 20261207_02_team_folders
Create Date: 2026-12-07 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from quota_service.migrations import compat

revision: str = "20261207_03_team_storage"
down_revision: str | None = "20261207_02_team_folders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# New tables only: older code never reads them.
schema_kind: compat.Kind = "expand"


def upgrade() -> None:
    op.create_table(
        "team_usage_snapshots",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "consortium_id",
            sa.Integer(),
            sa.ForeignKey("consortia.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("files", sa.BigInteger(), nullable=False),
        sa.Column("issues", sa.Integer(), nullable=False),
    )
    op.create_index(
        "ix_team_usage_consortium_measured",
        "team_usage_snapshots",
        ["consortium_id", "measured_at"],
    )
    op.create_table(
        "team_owner_usage",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "snapshot_id",
            sa.Integer(),
            sa.ForeignKey("team_usage_snapshots.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column(
            "user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("files", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_team_owner_usage_snapshot_id", "team_owner_usage", ["snapshot_id"])
    op.create_table(
        "consortium_removals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "consortium_id",
            sa.Integer(),
            sa.ForeignKey("consortia.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("team_dir", sa.String(64), nullable=True),
        sa.Column("people", sa.JSON(), nullable=False),
    )
    op.create_table(
        "team_archives",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "consortium_id",
            sa.Integer(),
            sa.ForeignKey("consortia.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "run_id",
            sa.Integer(),
            sa.ForeignKey("purge_runs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("team_dir", sa.String(64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column("files", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_notice_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("leads_sent", sa.JSON(), nullable=False),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("archive_bucket", sa.String(255), nullable=False),
        sa.Column("archive_prefix", sa.Text(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
    )
    op.create_index("ix_team_archives_consortium_id", "team_archives", ["consortium_id"])
    compat.record(revision, down_revision, schema_kind)


def downgrade() -> None:
    compat.forget(revision)
    op.drop_table("team_archives")
    op.drop_table("consortium_removals")
    op.drop_table("team_owner_usage")
    op.drop_table("team_usage_snapshots")
