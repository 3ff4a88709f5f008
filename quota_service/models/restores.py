"""API models of the restore at sign-in (`hub/` endpoints): a spawn decision that started one,
and the restore's status the hub's hook polls."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from .v1 import SpawnAllowed

RestoreState = Literal["running", "restored", "failed"]


class RestoreView(BaseModel):
    """One restore of a person's archived home, as any replica of the service sees it."""

    id: str
    username: str
    state: RestoreState
    # What to tell the person (the hub shows it as the spawn's progress message or notice).
    message: str
    started_at: datetime
    finished_at: datetime | None = None
    files: int = 0
    bytes: int = 0
    errors: int = 0


class SpawnAllowedWithRestore(SpawnAllowed):
    """An allowed decision; `restore` is set when it started restoring the person's home."""

    restore: RestoreView | None = None
