"""storage: purge runs, manifests, notice deliveries

Revision ID: 20261121_02_storage
Revises: 20261121_01_initial
Create Date: 2026-11-21 13:01:48.899452
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261121_02_storage"
down_revision: str | None = "20261121_01_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Expand/contract (docs/upgrades.md): adds tables only.
schema_kind = "expand"


def upgrade() -> None:

    op.create_table(
        "purge_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("manifest_dir", sa.Text(), nullable=False),
        sa.Column("action_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purge_runs")),
        sa.UniqueConstraint("run_id", name=op.f("uq_purge_runs_run_id")),
    )
    op.create_table(
        "purge_manifests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("area", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("why", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column("files", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "planned",
                "notified",
                "done",
                "partial",
                "restored",
                "cancelled",
                name="purge_manifest_status",
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_notice_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("restored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("archive_bucket", sa.String(length=255), nullable=True),
        sa.Column("archive_prefix", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["purge_runs.id"],
            name=op.f("fk_purge_manifests_run_id_purge_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_purge_manifests_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purge_manifests")),
    )
    with op.batch_alter_table("purge_manifests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_purge_manifests_status_action", ["status", "action_at"], unique=False
        )
        batch_op.create_index("ix_purge_manifests_user_status", ["user_id", "status"], unique=False)

    op.create_table(
        "notice_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("manifest_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("lead_days", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=True),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["manifest_id"],
            ["purge_manifests.id"],
            name=op.f("fk_notice_deliveries_manifest_id_purge_manifests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notice_deliveries_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_deliveries")),
        sa.UniqueConstraint(
            "manifest_id", "lead_days", "channel", name=op.f("uq_notice_deliveries_manifest_id")
        ),
    )
    with op.batch_alter_table("notice_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notice_deliveries_manifest_id"), ["manifest_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("notice_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notice_deliveries_manifest_id"))

    op.drop_table("notice_deliveries")
    with op.batch_alter_table("purge_manifests", schema=None) as batch_op:
        batch_op.drop_index("ix_purge_manifests_user_status")
        batch_op.drop_index("ix_purge_manifests_status_action")

    op.drop_table("purge_manifests")
    op.drop_table("purge_runs")
    sa.Enum(name="purge_manifest_status").drop(op.get_bind(), checkfirst=True)
