"""Builds services with their database session, inside a request or a job (CLI)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.util import greenlet_spawn

from .clock import Clock, utcnow
from .config import Settings
from .db import make_async_engine, make_engine, make_sessionmaker, unavailable
from .errors import DATABASE_UNAVAILABLE, DatabaseUnavailable
from .policy import Policy, load_policy
from .services.allocations import AllocationService
from .services.audit import AuditService
from .services.base import ServiceContext
from .services.consortia import ConsortiumService
from .services.notices import NoticeService
from .services.reports import ReportService
from .services.requests import RequestService
from .services.sessions import SessionService
from .services.spawn import SpawnService
from .services.teams import TeamService
from .services.users import UserService

if TYPE_CHECKING:
    from .config import SmtpSettings
    from .filesystem.notify import SmtpSender
    from .jobs.purge import PurgeService
    from .jobs.purge_common import StorageConfig
    from .jobs.restore_background import RestoreRunner
    from .jobs.scan import StorageService

T = TypeVar("T")
log = logging.getLogger(__name__)


S = TypeVar("S")


def _service(build: Callable[[ServiceContext], S]) -> cached_property[S]:
    """A service of the unit of work, built from its context on first use, then kept."""
    return cached_property(lambda services: build(services.ctx))


@dataclass
class Services:
    """The services bound to one unit of work (one transaction)."""

    ctx: ServiceContext

    users = _service(UserService)
    # Spawn decisions; it also charges and closes sessions (a `SessionService`).
    spawn = _service(SpawnService)
    # Charging, stopping and listing sessions, apart from spawn decisions.
    sessions = _service(SessionService)
    requests = _service(
        lambda ctx: RequestService(ctx, filings_per_day=ctx.request_filings_per_day)
    )
    allocations = _service(AllocationService)
    consortia = _service(ConsortiumService)
    audit = _service(AuditService)
    reports = _service(ReportService)
    notices = _service(NoticeService)
    teams = _service(TeamService)


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
        self.pool = settings.db_pool
        self.engine = (
            engine if engine is not None else make_engine(settings.database_url, pool=self.pool)
        )
        self.sessionmaker: sessionmaker[Session] = make_sessionmaker(self.engine)
        self.clock = clock

    def _services(self, session: Session) -> Services:
        return Services(
            ServiceContext(
                session=session,
                policy=self.policy,
                clock=self.clock,
                spawn_reservation_hours=self.settings.spawn_reservation_hours,
                cost_per_cpu_hour_usd=self.settings.cost_per_cpu_hour_usd,
                request_filings_per_day=self.settings.limits.requests_per_day,
                teams=self.settings.teams,
            )
        )

    @contextmanager
    def unit_of_work(self) -> Iterator[Services]:
        """One transaction: committed when the block ends, rolled back on error."""
        session = self.sessionmaker()
        try:
            with session.begin():
                yield self._services(session)
        finally:
            session.close()

    @cached_property
    def async_engine(self) -> AsyncEngine:
        return make_async_engine(self.settings.database_url, pool=self.pool)

    async def run(self, work: Callable[[Services], T]) -> T:
        """`work` in one transaction, like `unit_of_work`, but on the event loop: the services
        stay synchronous and SQLAlchemy hands each database wait back to the loop (greenlets).
        The hub's per-spawn endpoints use it, so they pay no hand-off to a thread.

        The whole unit (session, work, commit, close) runs in one greenlet, on the asyncio
        engine's sync facade: what `AsyncSession.run_sync` does inside, without the second
        greenlet its `close()` needs (7 % of a decision's CPU)."""
        try:
            return await greenlet_spawn(self._run_loop_unit, work)
        except Exception as exc:
            # asyncpg raises its own errors (or the socket's) when it cannot connect; the
            # sync paths' equivalents reach the app's DBAPIError handler instead.
            if not unavailable(exc):
                raise
            log.error("cannot use the database: %s: %s", type(exc).__name__, exc)
            raise DatabaseUnavailable(DATABASE_UNAVAILABLE) from None

    @cached_property
    def _loop_sessionmaker(self) -> sessionmaker[Session]:
        return make_sessionmaker(self.async_engine.sync_engine)

    def _run_loop_unit(self, work: Callable[[Services], T]) -> T:
        with self._loop_sessionmaker() as session, session.begin():
            return work(self._services(session))

    # -- jobs: what the CLI, the handlers and the login path run outside one transaction ----
    def storage_config(self, state_dir: Path | None = None) -> StorageConfig:
        """Where homes, scratch and the purge state live (`state_dir` overrides the setting)."""
        from .jobs.purge_common import StorageConfig

        return StorageConfig.from_settings(self.settings, state_dir)

    def scan_job(self, state_dir: Path | None = None) -> StorageService:
        """The storage scan (`nexus-quota scan`)."""
        from .jobs.scan import StorageService

        return StorageService(self, self.storage_config(state_dir))

    def purge_job(
        self, *, state_dir: Path | None = None, actor: str = "job:purge", mail: bool = False
    ) -> PurgeService:
        """The purge steps, recorded as `actor`; `mail`: send notices by e-mail too, when SMTP
        is configured (the CLI's jobs do; reading manifests needs no mailer)."""
        from .jobs.purge import PurgeService

        config = self.storage_config(state_dir)
        sender = _smtp_sender(config.smtp) if mail else None
        return PurgeService(self, config, sender=sender, actor=actor)

    def restore_runner(self, config: StorageConfig | None = None) -> RestoreRunner:
        """Restores of archived homes at sign-in, and their status."""
        from .jobs.restore_background import RestoreRunner

        return RestoreRunner(self, config or self.storage_config())

    def dispose(self) -> None:
        self.engine.dispose()

    async def dispose_async(self) -> None:
        if "async_engine" in self.__dict__:
            await self.async_engine.dispose()


def _smtp_sender(smtp: SmtpSettings) -> SmtpSender | None:
    """A mailer for the notices, or None when no SMTP host is configured."""
    from .filesystem.notify import SmtpSender

    if not smtp.host:
        return None
    return SmtpSender(
        smtp.host,
        smtp.port,
        sender=smtp.sender,
        starttls=smtp.starttls,
        username=smtp.username,
        password=smtp.password.get_secret_value() if smtp.password else None,
    )
