"""Purge manifests: those still pending, and archives not yet restored."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, and_

from ..schema.purge_manifest import PENDING_STATUSES, ManifestStatus, PurgeManifest

# What an archive run leaves restorable: all of it archived, or some of it.
ARCHIVED = (ManifestStatus.done, ManifestStatus.partial)


def is_pending() -> ColumnElement[bool]:
    """Planned or notified: the purge has not acted on it yet."""
    return PurgeManifest.status.in_(PENDING_STATUSES)


def unrestored_archive(reasons: Iterable[str]) -> ColumnElement[bool]:
    """Archived for one of `reasons`, and not restored since."""
    return and_(
        PurgeManifest.reason.in_(list(reasons)),
        PurgeManifest.status.in_(ARCHIVED),
        PurgeManifest.restored_at.is_(None),
    )
