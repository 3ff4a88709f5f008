"""What the purge steps share: where files live (`StorageConfig`), the step report, the
purge lock, the audit record and the manifest rows they retire or bind."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub_config.userdirs import directory_name

from ..config import ArchiveSettings, Settings, SmtpSettings
from ..errors import Conflict
from ..filesystem import manifest as mf
from ..filesystem.archive import S3Archiver
from ..filesystem.notify import (
    SmtpSender,
)
from ..names import SERVICE_PREFIX
from ..schema.purge_manifest import PurgeManifest
from ..services import manifest_guard as guard
from .results import R, StepReport

if TYPE_CHECKING:
    from ..factory import Factory, Services


@dataclass(frozen=True)
class StorageConfig:
    """Where homes, scratch and the purge pipeline's files live, and how to archive and mail."""

    home_root: Path
    scratch_root: Path | None
    state_dir: Path
    archive: ArchiveSettings = field(default_factory=ArchiveSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    public_url: str = ""
    # Where the service's pages live under public_url (its JupyterHub service prefix), with
    # one leading and one trailing slash (`Settings.prefix`).
    base_path: str = SERVICE_PREFIX

    @property
    def home_mounted(self) -> bool:
        """Whether the home volume is mounted here (the quota service may run without it)."""
        return self.home_root.is_dir()

    @classmethod
    def from_settings(cls, settings: Settings, state_dir: Path | None = None) -> StorageConfig:
        return cls(
            home_root=settings.storage_root,
            scratch_root=settings.scratch_root,
            state_dir=state_dir or settings.storage_state_dir,
            archive=settings.archive,
            smtp=settings.smtp,
            public_url=settings.public_url,
            base_path=settings.prefix,
        )

    def root_of(self, user: str, area: str) -> Path | None:
        """The person's directory in `area`, named by the one rule the pods use too."""
        base = self.home_root if area == "home" else self.scratch_root
        return None if base is None else base / directory_name(user)


ARCHIVE_REASONS = (mf.HOME_INACTIVE, mf.HOME_ALLOCATION_ENDED, mf.OVER_QUOTA_LRU)
WHOLE_HOME = (mf.HOME_INACTIVE, mf.HOME_ALLOCATION_ENDED)


def ns_of(dt: datetime) -> int:
    return int(dt.timestamp() * 1_000_000_000)


class PurgeJobBase:
    """The state and helpers every purge step uses; `PurgeService` composes the steps."""

    def __init__(
        self,
        factory: Factory,
        config: StorageConfig,
        *,
        s3_client: Any = None,
        sender: SmtpSender | None = None,
        actor: str = "job:purge",
    ) -> None:
        self.factory = factory
        self.config = config
        self._s3 = s3_client
        self.sender = sender
        self.actor = actor

    # -- helpers ---------------------------------------------------------------------------
    @property
    def leads(self) -> list[int]:
        return list(self.factory.policy.notices.lead_days)

    @property
    def max_lead(self) -> timedelta:
        return timedelta(days=max(self.leads, default=0))

    def archiver(self) -> S3Archiver:
        if self._s3 is None:
            import boto3

            a = self.config.archive
            self._s3 = boto3.client("s3", endpoint_url=a.endpoint_url, region_name=a.region)
        a = self.config.archive
        return S3Archiver(self._s3, a.bucket, storage_class=a.storage_class)

    @contextmanager
    def _lock(self, *, wait: bool = False, shared: bool = False) -> Iterator[None]:
        """One purge step at a time on this state directory (the CronJobs also Forbid overlap).

        Raises ``Conflict`` at once when another step holds it, unless ``wait``: a restore at
        sign-in runs in the background and may wait for a purge job to finish. `shared`: the
        shards of one sharded plan (disjoint users) hold it together, excluding other steps.
        """
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.config.state_dir / "purge.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
                fcntl.flock(fd, mode | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                raise Conflict("another purge job holds the lock; try again later") from None
            yield
        finally:
            os.close(fd)

    def _audit(
        self, svc: Services, action: str, target: str, report: StepReport[R], dry_run: bool
    ) -> None:
        svc.audit.record(
            actor=self.actor,
            action=action,
            target_type="purge",
            target_id=target,
            after={
                "dry_run": dry_run,
                "manifests": len(report.manifests),
                "files": sum(m.counted_files for m in report.manifests),
                "errors": len(report.errors),
            },
        )

    def _retire_unbound(self, svc: Services, report: StepReport[R]) -> None:
        retired = guard.retire_unbound(svc.ctx.session, svc.ctx.now())
        if retired:
            report.notes.append(f"manifests {retired}: {guard.UNBOUND}")
            svc.audit.record(
                actor=self.actor,
                action="storage.purge.retire-unbound",
                target_type="purge",
                target_id=",".join(map(str, retired)),
                after={"cancelled": retired, "why": guard.UNBOUND},
            )

    def _adopt(self, p: guard.Planned, digest: str) -> None:
        """Bind a row from before digests, that an older executor already acted on, to its
        file as found now (once), so it can still be finished and restored."""
        with self.factory.unit_of_work() as svc:
            m = svc.ctx.session.get(PurgeManifest, p.id)
            assert m is not None
            if m.digest is None:
                m.digest = digest
                svc.audit.record(
                    actor=self.actor,
                    action="storage.purge.bind-digest",
                    target_type="purge",
                    target_id=str(p.id),
                    after={"digest": digest, "status": m.status.value},
                )
