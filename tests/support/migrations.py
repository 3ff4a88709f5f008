"""Migrations a test adds at runtime, as the next release's pre-upgrade Job would apply them.

    later = NextRelease(tmp_path / "next")
    rev = later.add("expand", "op.add_column('users', sa.Column('nickname', sa.Text()))")
    later.upgrade(url)          # alembic upgrade with the project's versions plus these

The running code never sees these files: its `head_revision()` stays the project's head.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command

from quota_service import db

TEMPLATE = '''"""test migration {revision} ({kind})"""

import sqlalchemy as sa
from alembic import op

from quota_service.migrations import compat

revision = {revision!r}
down_revision = {down!r}
branch_labels = None
depends_on = None
schema_kind = {kind!r}


def upgrade() -> None:
    {body}
    compat.record(revision, down_revision, schema_kind)


def downgrade() -> None:
    compat.forget(revision)
'''


class NextRelease:
    """A folder of migrations that follow the project's head."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.revisions: list[str] = []

    @property
    def head(self) -> str:
        return self.revisions[-1] if self.revisions else db.head_revision()

    def add(self, kind: str, body: str) -> str:
        revision = f"29990101_{len(self.revisions) + 1:02d}_{kind}"
        text = TEMPLATE.format(revision=revision, down=self.head, kind=kind, body=body)
        (self.folder / f"{revision}.py").write_text(text)
        self.revisions.append(revision)
        return revision

    def upgrade(self, url: str, revision: str = "heads") -> None:
        cfg = db.alembic_config(url)
        cfg.set_main_option("path_separator", "os")
        locations = os.pathsep.join([str(db.MIGRATIONS / "versions"), str(self.folder)])
        cfg.set_main_option("version_locations", locations)
        command.upgrade(cfg, revision)
