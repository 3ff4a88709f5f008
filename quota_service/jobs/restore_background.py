"""Restore an archived home at sign-in, in the background.

A spawn decision must answer within the hub's 5 s timeout, and a restore of a large home takes
minutes, so the decision only *starts* it (`RestoreRunner.begin`) and returns its status; the
hub's hook then polls `status` until it is over. The status lives in the purge state directory
on EFS (`restores/<directory>.json`), beside a lock file held for the restore's whole run, so
every replica of the service answers for a restore any replica started, one restore per person
runs at a time, and a restore whose process died shows as failed instead of running forever.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from ..models.restores import RestoreView
from ..schema import User
from ..schema.purge_manifest import PurgeManifest
from ..store.manifests import unrestored_archive
from .purge import WHOLE_HOME, PurgeService
from .purge_common import StorageConfig

if TYPE_CHECKING:
    from ..factory import Factory, Services

log = logging.getLogger(__name__)

RESTORED = "Your home was archived while you were away; it has been restored."
STARTED = "Restoring your home from the archive…"
RETRY = (
    " Your server starts with the files you have now. The restore is tried again at your next "
    "sign-in; restored files never overwrite files you create meanwhile (a clash is kept "
    "beside it as NAME.restored-…)."
)


def has_archived_home(svc: Services, username: str) -> bool:
    """Whether `username` has a whole-home archive not yet restored (one indexed query)."""
    found = svc.ctx.session.scalar(
        select(PurgeManifest.id)
        .join(User, User.id == PurgeManifest.user_id)
        .where(User.username == username, unrestored_archive(WHOLE_HOME))
        .limit(1)
    )
    return found is not None


async def start_restore(factory: Factory, username: str) -> RestoreView | None:
    """Start restoring this person's archived home in the background; None when there is none.

    The spawn decision calls it and returns at once; the hub's hook polls the restore's status
    (`RestoreRunner.status`) outside the decision's timeout. The synchronous form, for the CLI
    and tests, is `jobs.restore.restore_at_login`.
    """
    if not factory.settings.restore_on_login:
        return None
    config = factory.storage_config()
    # Only where homes are mounted; the chart mounts them in the service (docs/storage.md).
    if not config.home_mounted:
        return None
    if not await factory.run(lambda svc: has_archived_home(svc, username)):
        return None
    return await run_in_threadpool(factory.restore_runner(config).begin, username)


def _now() -> datetime:
    return datetime.now(UTC)


class RestoreRunner:
    """Starts restores and reads their status; all its state is in files on EFS."""

    def __init__(self, factory: Factory, config: StorageConfig) -> None:
        self.factory = factory
        self.config = config

    def _paths(self, username: str) -> tuple[Path, Path]:
        home = self.config.root_of(username, "home")
        assert home is not None  # homes always have a root
        folder = self.config.state_dir / "restores"
        return folder / f"{home.name}.lock", folder / f"{home.name}.json"

    def _read(self, path: Path) -> RestoreView | None:
        try:
            return RestoreView.model_validate_json(path.read_bytes())
        except (OSError, ValidationError):
            return None

    def _write(self, path: Path, view: RestoreView) -> None:
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
        tmp.write_text(view.model_dump_json())
        os.replace(tmp, path)

    def begin(self, username: str) -> RestoreView:
        """Start restoring `username`'s archived home unless a restore already runs."""
        lock_path, status_path = self._paths(username)
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            current = self._read(status_path)
            if current is not None and current.state == "running":
                return current
            # Another replica has just taken the lock and not yet written its status.
            return RestoreView(
                id="starting",
                username=username,
                state="running",
                message=STARTED,
                started_at=_now(),
            )
        view = RestoreView(
            id=uuid.uuid4().hex,
            username=username,
            state="running",
            message=STARTED,
            started_at=_now(),
        )
        try:
            self._write(status_path, view)
            thread = threading.Thread(
                target=self._run, args=(fd, status_path, view), name=f"restore-{username}"
            )
            thread.daemon = True
            thread.start()
        except BaseException:
            os.close(fd)
            raise
        return view

    def _run(self, fd: int, status_path: Path, view: RestoreView) -> None:
        """The restore itself, holding the person's lock (`fd`) until its status is final."""
        username = view.username
        try:
            report = PurgeService(self.factory, self.config, actor=f"login:{username}").restore(
                username, whole_home_only=True, wait=True
            )
            files = sum(int(m["files"]) + int(m["symlinks"]) for m in report.manifests)
            errors = sum(int(m["errors"]) for m in report.manifests)
            done = view.model_copy(
                update={
                    "finished_at": _now(),
                    "files": files,
                    "bytes": sum(int(m["bytes"]) for m in report.manifests),
                    "errors": errors,
                }
            )
            if errors:
                first = next(s for m in report.manifests for s in m["error_samples"])
                done.state = "failed"
                done.message = (
                    f"{errors} archived files of your home could not be restored "
                    f"(first: {first[0]}: {first[1]}); {files} files are back." + RETRY
                )
            else:
                done.state = "restored"
                done.message = RESTORED
        except Exception as exc:
            log.exception("restore of %s's home failed", username)
            done = view.model_copy(
                update={
                    "finished_at": _now(),
                    "state": "failed",
                    "message": f"Your archived home could not be restored: {exc}."[:500] + RETRY,
                }
            )
        try:
            self._write(status_path, done)
        finally:
            os.close(fd)

    def status(self, username: str) -> RestoreView | None:
        """The latest restore of `username`, or None when there never was one."""
        lock_path, status_path = self._paths(username)
        view = self._read(status_path)
        if view is None or view.state != "running":
            return view
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return view  # its restorer still holds the lock: running
            # Read again under the lock: the restorer may have finished in between.
            view = self._read(status_path)
        finally:
            os.close(fd)
        if view is None or view.state != "running":
            return view
        # Running, yet nobody holds the lock: the process that ran it stopped mid-way.
        return view.model_copy(
            update={
                "state": "failed",
                "message": "The restore of your home was interrupted." + RETRY,
            }
        )
