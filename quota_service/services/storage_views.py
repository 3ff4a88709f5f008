"""What a person's storage looks like over time, and what the purge pipeline plans for it.

Reads the scanner's snapshots and the purge pipeline's manifests (rows, and the first entries
of the manifest file when the web service can read the job's volume). Read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from ..filesystem.manifest import ManifestError, display, read_entries
from ..schema import User
from ..schema.purge_manifest import PENDING_STATUSES, ManifestStatus, PurgeManifest
from ..store.snapshots import newest_first
from .base import ServiceContext

MAX_LISTED_FILES = 50


@dataclass(frozen=True)
class StoragePoint:
    at: datetime
    home_bytes: int
    scratch_bytes: int


@dataclass(frozen=True)
class PlannedFile:
    path: str
    kind: str
    action: str
    size: int


@dataclass
class PurgeItem:
    id: int
    area: str
    reason: str
    why: str
    status: str
    files: int
    bytes: int
    action_at: datetime
    executed_at: datetime | None
    archive_bucket: str | None
    archive_prefix: str | None
    listed: list[PlannedFile] = field(default_factory=list)
    # None: the list was read; otherwise why it could not be.
    listing_problem: str | None = None


@dataclass
class PurgeOverview:
    planned: list[PurgeItem]
    archived: list[PurgeItem]


def _item(row: PurgeManifest) -> PurgeItem:
    return PurgeItem(
        id=row.id,
        area=row.area,
        reason=row.reason,
        why=row.why,
        status=row.status.value,
        files=row.files,
        bytes=row.bytes,
        action_at=row.action_at,
        executed_at=row.executed_at,
        archive_bucket=row.archive_bucket,
        archive_prefix=row.archive_prefix,
    )


def list_planned_files(path: Path, limit: int = MAX_LISTED_FILES) -> list[PlannedFile]:
    """The first `limit` entries of a manifest file (raises OSError or ManifestError)."""
    out: list[PlannedFile] = []
    for entry in read_entries(path):
        out.append(
            PlannedFile(
                path=display(entry.path), kind=entry.kind, action=entry.action, size=entry.size
            )
        )
        if len(out) >= limit:
            break
    return out


class StorageViewService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def history(self, user: User, limit: int = 90) -> list[StoragePoint]:
        rows = self.ctx.session.scalars(newest_first(user.id).limit(limit))
        points = [StoragePoint(r.measured_at, r.home_bytes, r.scratch_bytes) for r in rows]
        points.reverse()
        return points

    def purge_overview(self, user: User) -> PurgeOverview:
        rows = list(
            self.ctx.session.scalars(
                select(PurgeManifest)
                .where(PurgeManifest.user_id == user.id)
                .order_by(PurgeManifest.action_at, PurgeManifest.id)
            )
        )
        planned = []
        archived = []
        for row in rows:
            if row.status in PENDING_STATUSES:
                item = _item(row)
                try:
                    item.listed = list_planned_files(Path(row.path))
                except (OSError, ManifestError) as exc:
                    item.listing_problem = (
                        "the file list is not readable by the web service"
                        if isinstance(exc, OSError)
                        else f"the manifest could not be read ({exc})"
                    )
                planned.append(item)
            elif row.archive_bucket and row.status in (
                ManifestStatus.done,
                ManifestStatus.partial,
            ):
                archived.append(_item(row))
        return PurgeOverview(planned=planned, archived=archived)
