"""API models of team collaboration servers (handlers/collab.py)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class CollabView(BaseModel):
    """A consortium's collaboration server, as one of its members sees it."""

    consortium_id: int
    consortium: str
    team_user: str = Field(description="the hub user the server runs as (team~<team_dir>)")
    url: str = Field(description="where members open it: the hub's /user/<team user>/")
    running: bool
    ready: bool
    pending: str | None = None
    size: str = Field(description="the size it starts at (the pool's smallest)")
    charged_to: int = Field(description="the consortium pool's allocation id")
    members: list[str] = Field(description="who may open, start and stop it")
    last_activity: datetime | None = None
    idle_stop_hours: float = Field(description="stopped this long after the last person left")
