"""Builds services with their database session, inside a request or a job (CLI)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from .clock import Clock, utcnow
from .config import Settings
from .db import make_engine, make_sessionmaker
from .policy import Policy, load_policy
from .services.allocations import AllocationService
from .services.audit import AuditService
from .services.base import ServiceContext
from .services.consortia import ConsortiumService
from .services.notices import NoticeService
from .services.reports import ReportService
from .services.requests import RequestService
from .services.spawn import SpawnService
from .services.users import UserService


@dataclass
class Services:
    """The services bound to one unit of work (one transaction)."""

    ctx: ServiceContext

    @cached_property
    def users(self) -> UserService:
        return UserService(self.ctx)

    @cached_property
    def spawn(self) -> SpawnService:
        return SpawnService(self.ctx)

    @cached_property
    def requests(self) -> RequestService:
        return RequestService(self.ctx)

    @cached_property
    def allocations(self) -> AllocationService:
        return AllocationService(self.ctx)

    @cached_property
    def consortia(self) -> ConsortiumService:
        return ConsortiumService(self.ctx)

    @cached_property
    def audit(self) -> AuditService:
        return AuditService(self.ctx)

    @cached_property
    def reports(self) -> ReportService:
        return ReportService(self.ctx)

    @cached_property
    def notices(self) -> NoticeService:
        return NoticeService(self.ctx)


class Factory:
    def __init__(
        self,
        settings: Settings,
        *,
        policy: Policy | None = None,
        engine: Engine | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.settings = settings
        self.policy = policy if policy is not None else load_policy(settings.policy_path)
        self.engine = engine if engine is not None else make_engine(settings.database_url)
        self.sessionmaker: sessionmaker[Session] = make_sessionmaker(self.engine)
        self.clock = clock

    @contextmanager
    def unit_of_work(self) -> Iterator[Services]:
        """One transaction: committed when the block ends, rolled back on error."""
        session = self.sessionmaker()
        ctx = ServiceContext(
            session=session,
            policy=self.policy,
            clock=self.clock,
            spawn_reservation_hours=self.settings.spawn_reservation_hours,
            cost_per_cpu_hour_usd=self.settings.cost_per_cpu_hour_usd,
        )
        try:
            with session.begin():
                yield Services(ctx)
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
