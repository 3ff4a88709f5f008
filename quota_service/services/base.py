"""What every service needs: a database session, the policy and a clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from ..clock import Clock, utcnow
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

    def now(self) -> datetime:
        return self.clock()
