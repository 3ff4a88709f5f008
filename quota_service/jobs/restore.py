"""Bring back archived homes: by command, or at login (`restore_at_login`)."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import Conflict, NotFound
from ..filesystem import manifest as mf
from ..filesystem.archive import restore
from ..schema.purge_manifest import ManifestStatus, PurgeManifest
from ..services import manifest_guard as guard
from ..store.manifests import unrestored_archive
from .purge_common import ARCHIVE_REASONS, WHOLE_HOME, PurgeJobBase, StorageConfig
from .results import RestoreRow, StepReport

if TYPE_CHECKING:
    from ..factory import Factory

log = logging.getLogger(__name__)


class RestoreStep(PurgeJobBase):
    """`restore`: a person's archives back in place, never overwriting."""

    def restore(
        self, username: str, *, whole_home_only: bool = False, wait: bool = False
    ) -> StepReport[RestoreRow]:
        """Restore `username`'s archives; `wait` for a running purge step instead of refusing."""
        now = self.factory.clock()
        report = StepReport[RestoreRow]("restore")
        reasons = WHOLE_HOME if whole_home_only else ARCHIVE_REASONS
        # Every login asks; almost nobody has an archive. Look before taking the purge lock,
        # then look again under it (a purge may have finished in between).
        if not self._restorable(username, reasons):
            if not whole_home_only:
                raise NotFound(f"{username} has nothing archived to restore")
            return report
        with self._lock(wait=wait), tempfile.TemporaryDirectory(prefix="nexus-restore-") as tmp:
            todo = self._restorable(username, reasons)
            for p in todo:
                try:
                    copy, digest = guard.private_copy(p.id, p.path, Path(tmp))
                    guard.check_planned(p, copy, digest, self.config.root_of(p.user, p.area))
                except (guard.ManifestRefused, mf.ManifestError, OSError) as exc:
                    # Nothing is restored from a file that is not the planned one.
                    report.errors.append(f"{username} manifest {p.id}: {exc}; not restored")
                    refused = RestoreRow(
                        manifest=p.id,
                        user=username,
                        errors=1,
                        error_samples=[(f"manifest {p.id}", f"{exc}; not restored")],
                    )
                    report.manifests.append(refused)
                    continue
                if p.digest is None:
                    self._adopt(p, digest)
                res = restore(copy, p.journal, self.archiver())
                entry = RestoreRow(
                    manifest=p.id,
                    user=username,
                    files=res.files,
                    symlinks=res.symlinks,
                    dirs=res.dirs,
                    already=res.already,
                    beside=res.beside,
                    bytes=res.bytes,
                    errors=len(res.errors),
                    error_samples=res.errors[:10],
                )
                report.manifests.append(entry)
                if res.errors:
                    continue
                with self.factory.unit_of_work() as svc:
                    m = svc.ctx.session.get(PurgeManifest, p.id)
                    assert m is not None
                    m.status = ManifestStatus.restored
                    m.restored_at = now
            if todo:
                with self.factory.unit_of_work() as svc:
                    self._audit(svc, "storage.purge.restore", username, report, False)
        return report

    def _restorable(self, username: str, reasons: Iterable[str]) -> list[guard.Planned]:
        """Archived manifests of this person not yet restored, oldest first."""
        with self.factory.unit_of_work() as svc:
            user = svc.users.get(username)
            return [
                guard.planned(m, name, run_id)
                for m, name, run_id in svc.ctx.session.execute(
                    guard.planned_rows()
                    .where(PurgeManifest.user_id == user.id, unrestored_archive(reasons))
                    .order_by(PurgeManifest.id)
                )
            ]


def restore_if_archived(factory: Factory, config: StorageConfig, username: str) -> bool:
    """Called at login: bring back a home archived for inactivity. True when one was restored."""
    report = RestoreStep(factory, config, actor=f"login:{username}").restore(
        username, whole_home_only=True
    )
    return any(m.files or m.symlinks for m in report.manifests)


def restore_at_login(factory: Factory, config: StorageConfig, username: str) -> str | None:
    """Restore an inactivity archive of this person's home now; return a notice when it did.

    The synchronous form (CLI and tests); a spawn uses `restore_background.start_restore`. A purge
    job holding the lock or an unreachable archive is logged and the next login tries again.
    """
    if not config.home_mounted:
        return None
    try:
        restored = restore_if_archived(factory, config, username)
    except Conflict as exc:
        log.warning("restore for %s postponed: %s", username, exc.detail)
        return None
    except Exception:
        log.exception("restore for %s failed; it will be retried at the next login", username)
        return None
    if restored:
        return "Your home was archived while you were away; it has been restored."
    return None
