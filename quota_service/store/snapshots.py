"""Storage-usage snapshots: which one is a person's newest."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ScalarSelect, Select, select
from sqlalchemy.orm import Session

from ..schema import StorageUsageSnapshot

Snapshot = StorageUsageSnapshot

# The one order of "newest": two snapshots measured at the same instant (a scan rerun within
# the clock's resolution) are told apart by id, so the later row wins on every backend.
NEWEST_FIRST = (Snapshot.measured_at.desc(), Snapshot.id.desc())


def newest_first(user_id: Any) -> Select[tuple[StorageUsageSnapshot]]:
    """The snapshots of `user_id`, newest first (callers add a limit)."""
    return select(Snapshot).where(Snapshot.user_id == user_id).order_by(*NEWEST_FIRST)


def latest_snapshot_id(user_id: Any) -> ScalarSelect[int]:
    """The id of the newest snapshot of `user_id` (a value, or a column of the enclosing
    query, such as `User.id`), as a scalar subquery."""
    return (
        select(Snapshot.id)
        .where(Snapshot.user_id == user_id)
        .order_by(*NEWEST_FIRST)
        .limit(1)
        # The enclosing query may join the snapshots too: never correlate them.
        .correlate_except(Snapshot)
        .scalar_subquery()
    )


def latest_snapshot(session: Session, user_id: int) -> StorageUsageSnapshot | None:
    """The newest snapshot of `user_id`, or None before the first scan."""
    return session.scalars(
        select(Snapshot).where(Snapshot.id == latest_snapshot_id(user_id))
    ).first()
