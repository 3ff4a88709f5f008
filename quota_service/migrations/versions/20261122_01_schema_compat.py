"""schema_compat: which code revisions each schema serves (expand/contract upgrades)

Revision ID: 20261122_01_schema_compat
Revises: 20261121_02_storage
Create Date: 2026-11-22 10:00:00
"""

from collections.abc import Sequence

from alembic import op

from quota_service.migrations import compat

revision: str = "20261122_01_schema_compat"
down_revision: str | None = "20261121_02_storage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Adds one table; code at 20261121_02 never reads it (docs/upgrades.md).
schema_kind: compat.Kind = "expand"


def upgrade() -> None:
    compat.create_table()
    compat.record(revision, down_revision, schema_kind)


def downgrade() -> None:
    op.drop_table(compat.TABLE)
