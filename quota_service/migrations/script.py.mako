"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from quota_service.migrations import compat
${imports if imports else ""}
revision: str = ${repr(up_revision)}
down_revision: str | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}
# "expand" (adds only: older code keeps working) or "contract"; see docs/upgrades.md.
schema_kind: compat.Kind = "expand"


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}
    compat.record(revision, down_revision, schema_kind)


def downgrade() -> None:
    compat.forget(revision)
    ${downgrades if downgrades else "pass"}
