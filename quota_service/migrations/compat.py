"""Which code revisions a schema still serves, recorded in the database by each migration.

Expand/contract (docs/upgrades.md): an *expand* migration only adds (nullable columns, tables,
indexes), so code written for the revision before it keeps working; a *contract* migration
removes or tightens something, so only code that knows it works. Each migration, from
20261122_01 on, calls `record()`; the row for the database's current revision says the
oldest code revision it serves (`serves_from`). Code that finds a revision it does not know
reads that row: plain SQL, no need for the newer migration's Python.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import sqlalchemy as sa
from alembic import op

TABLE = "schema_compat"
Kind = Literal["expand", "contract"]
KINDS: tuple[str, ...] = ("expand", "contract")

compat_table = sa.table(
    TABLE,
    sa.column("revision", sa.String),
    sa.column("down_revision", sa.String),
    sa.column("kind", sa.String),
    sa.column("serves_from", sa.String),
    sa.column("applied_at", sa.DateTime(timezone=True)),
)


def create_table() -> None:
    op.create_table(
        TABLE,
        sa.Column("revision", sa.String(64), primary_key=True),
        sa.Column("down_revision", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("serves_from", sa.String(64), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
    )


def record(revision: str, down_revision: str | None, kind: Kind) -> None:
    """Record `revision`: a contract serves only code at or after itself; an expand serves
    whatever its parent served (the parent itself when the parent predates this table)."""
    if kind not in KINDS:
        raise ValueError(f"migration {revision}: kind must be one of {KINDS}, not {kind!r}")
    serves_from = revision
    if kind == "expand" and down_revision is not None:
        parent = op.get_bind().execute(
            sa.select(compat_table.c.serves_from).where(compat_table.c.revision == down_revision)
        )
        serves_from = parent.scalar() or down_revision
    op.execute(
        compat_table.insert().values(
            revision=revision,
            down_revision=down_revision,
            kind=kind,
            serves_from=serves_from,
            applied_at=datetime.now(UTC),
        )
    )


def forget(revision: str) -> None:
    """The downgrade's half of `record`."""
    op.execute(compat_table.delete().where(compat_table.c.revision == revision))
