"""purge_manifests.digest: the SHA-256 of each manifest file as planned (issue 15 item 8)

Revision ID: 20261123_01_manifest_digest
Revises: 20261122_01_schema_compat
Create Date: 2026-11-23 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from quota_service.migrations import compat

revision: str = "20261123_01_manifest_digest"
down_revision: str | None = "20261122_01_schema_compat"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# One nullable column: older code never reads it, and its rows (NULL) are handled as planned
# before digests (docs/security-purge.md).
schema_kind: compat.Kind = "expand"


def upgrade() -> None:
    op.add_column("purge_manifests", sa.Column("digest", sa.String(64), nullable=True))
    compat.record(revision, down_revision, schema_kind)


def downgrade() -> None:
    compat.forget(revision)
    with op.batch_alter_table("purge_manifests") as batch:
        batch.drop_column("digest")
