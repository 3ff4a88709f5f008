"""consortia.team_dir and consortia.gid: each team's folder and POSIX group (issue 17 part 2)

Revision ID: 20261207_02_team_folders
Revises: 20261207_01_session_release
Create Date: 2026-12-07 04:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hub_config.teamdirs import unique_team_dir
from quota_service.migrations import compat

revision: str = "20261207_02_team_folders"
down_revision: str | None = "20261207_01_session_release"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Two nullable, unique columns, backfilled here: older code never reads them, and a row it
# creates during the upgrade gets both on first use (services/teams.py).
schema_kind: compat.Kind = "expand"

consortia = sa.table(
    "consortia",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("team_dir", sa.String),
    sa.column("gid", sa.Integer),
)


def _gid_base() -> int:
    """The configured `teams.gid_base` (its default when the settings cannot be read)."""
    from quota_service.config import ConfigError, TeamSettings, load_settings

    try:
        return load_settings().teams.gid_base
    except (ConfigError, ValueError):
        return TeamSettings().gid_base


def upgrade() -> None:
    with op.batch_alter_table("consortia") as batch:
        batch.add_column(sa.Column("team_dir", sa.String(32), nullable=True))
        batch.add_column(sa.Column("gid", sa.Integer(), nullable=True))
        batch.create_unique_constraint("uq_consortia_team_dir", ["team_dir"])
        batch.create_unique_constraint("uq_consortia_gid", ["gid"])
    bind = op.get_bind()
    base = _gid_base()
    taken: set[str] = set()
    rows = bind.execute(sa.select(consortia.c.id, consortia.c.name).order_by(consortia.c.id))
    for consortium_id, name in rows.all():
        team_dir = unique_team_dir(name, taken)
        taken.add(team_dir)
        bind.execute(
            consortia.update()
            .where(consortia.c.id == consortium_id)
            .values(team_dir=team_dir, gid=base + consortium_id)
        )
    compat.record(revision, down_revision, schema_kind)


def downgrade() -> None:
    compat.forget(revision)
    with op.batch_alter_table("consortia") as batch:
        batch.drop_constraint("uq_consortia_gid", type_="unique")
        batch.drop_constraint("uq_consortia_team_dir", type_="unique")
        batch.drop_column("gid")
        batch.drop_column("team_dir")
