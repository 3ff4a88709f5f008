"""A person's running servers with what each has cost so far (the hub's home page)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class RunningServerView(BaseModel):
    """One open session: the server (default "" or named), its size, its allocation, cost."""

    session_id: int
    server_name: str
    size: str
    size_display_name: str
    cpu_hours_per_hour: float
    allocation_id: int
    allocation_label: str
    tier: str
    started_at: datetime
    cleanup_mode: bool
    release: str | None = None
    # In the ledger: charged up to `charged_until` (stops and the reconciler charge).
    charged_until: datetime
    cpu_hours_charged: float
    # What the session has cost by `as_of`: the ledger's charge plus the time since
    # `charged_until` at the size's rate (what the next charge will add).
    cpu_hours_so_far: float


class RunningServersView(BaseModel):
    username: str
    as_of: datetime
    servers: list[RunningServerView]
