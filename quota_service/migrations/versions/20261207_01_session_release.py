"""server_sessions.release: the environment release chosen at spawn (issue 16 item 5)

Revision ID: 20261207_01_session_release
Revises: 20261123_01_manifest_digest
Create Date: 2026-12-07 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from quota_service.migrations import compat

revision: str = "20261207_01_session_release"
down_revision: str | None = "20261123_01_manifest_digest"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# One nullable column: older code never writes it; sessions opened before it read as NULL
# (no release recorded).
schema_kind: compat.Kind = "expand"


def upgrade() -> None:
    op.add_column("server_sessions", sa.Column("release", sa.String(64), nullable=True))
    compat.record(revision, down_revision, schema_kind)


def downgrade() -> None:
    compat.forget(revision)
    with op.batch_alter_table("server_sessions") as batch:
        batch.drop_column("release")
