"""What every service needs: a database session, the policy and a clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from ..clock import Clock, utcnow
from ..config_parts import TeamSettings
from ..policy import Policy


@dataclass
class ServiceContext:
    session: Session
    policy: Policy
    clock: Clock = utcnow
    # CPU-hours an open session holds back so racing spawns cannot overdraw a budget.
    spawn_reservation_hours: float = 1.0
    cost_per_cpu_hour_usd: float = 0.05
    # Upgrade and renewal requests one person may file in 24 hours (settings limits).
    request_filings_per_day: int = 10
    # uid and gid ranges of team folders (settings `teams`).
    teams: TeamSettings = field(default_factory=TeamSettings)

    def now(self) -> datetime:
        return self.clock()


class Caller(Protocol):
    """Who asks a service method to act, for the methods that check who may: the API's and
    the pages' `auth.Identity` is one (services do not import auth), the CLI passes an
    `Actor`."""

    @property
    def name(self) -> str: ...

    @property
    def is_admin(self) -> bool: ...

    @property
    def actor(self) -> str:
        """As the audit log records it."""
        ...


@dataclass(frozen=True)
class Actor:
    """A `Caller` known without a token: an operator at the CLI (an admin) or a test."""

    name: str
    is_admin: bool = False

    @property
    def actor(self) -> str:
        return self.name
