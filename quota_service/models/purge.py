"""API models of `/me/purge-manifests` (and `nexus-quota purge show`): a person's purge
manifests, and a page of one manifest's entries with each one's state."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class _ByName(BaseModel):
    def __getitem__(self, key: str) -> Any:
        """Read a field by name, as the dict rows these models replace were read."""
        if key not in type(self).model_fields:
            raise KeyError(key)
        return getattr(self, key)


class PurgeManifestView(_ByName):
    """One planned or past purge of the person's home or scratch: when, why, how many files."""

    id: int
    area: str
    reason: str
    why: str
    files: int
    bytes: int
    status: str
    # ISO 8601 as the service has always written them (`datetime.isoformat()`).
    action_at: str
    first_notice_at: str | None
    executed_at: str | None
    restored_at: str | None
    # What executing it did (the execute step's row), or why it was refused or cancelled.
    result: dict[str, Any] | None


class PurgeManifestEntryView(_ByName):
    """One file a purge will touch (or touched), and where it stands."""

    path: str
    type: str
    action: str
    size: int
    atime: int
    mtime: int
    archive_key: str | None
    state: str
    note: str
