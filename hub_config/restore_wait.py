"""Waiting for a restore of the person's archived home before their server starts.

The spawn decision only starts the restore (it must answer within the hook's 5 s timeout); the
hook then polls the restore's status here, as long as `restore_timeout` allows, while the spawn
page shows "Restoring your home…" as its progress message. A slow restore is never an error: at
the timeout the server starts and the restore carries on in the background.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from .quota_client import QuotaClient, QuotaRequestError, QuotaUnavailable, RestoreStatus

RESTORING = "Restoring your home…"
STILL_RESTORING = (
    "Your home is still being restored from the archive; its files appear as they come back. "
    "Files you create meanwhile are never overwritten (a clash is kept beside it as "
    "NAME.restored-…)."
)

Event = dict[str, Any]


class RestoreProgress:
    """Progress events of one spawn while its hook waits (JupyterHub's `Spawner.progress`)."""

    def __init__(self) -> None:
        self.message: str | None = None
        self.finished = False
        self._changed = asyncio.Event()
        self._own: dict[str, Any] = {}  # the spawner's own instance attribute, if it had one

    def update(self, message: str) -> None:
        self.message = message
        self._changed.set()

    def finish(self) -> None:
        self.finished = True
        self._changed.set()

    async def events(self) -> AsyncIterator[Event]:
        shown: str | None = None
        while True:
            if self.message and self.message != shown:
                shown = self.message
                yield {"progress": 5, "message": shown}
            if self.finished:
                return
            self._changed.clear()
            await self._changed.wait()

    def install(self, spawner: Any) -> None:
        """Put these events ahead of the spawner's own for the length of the hook."""
        original = getattr(spawner, "progress", None)
        if original is None:
            return
        if "progress" in vars(spawner):
            self._own["progress"] = original

        async def progress() -> AsyncIterator[Event]:
            async for event in self.events():
                yield event
            async for event in original():
                yield event

        spawner.progress = progress

    def uninstall(self, spawner: Any) -> None:
        self.finish()
        # The wrapper was an instance attribute: put back what was there (usually nothing, so
        # the class's own method shows again).
        if "progress" in self._own:
            spawner.progress = self._own["progress"]
        else:
            vars(spawner).pop("progress", None)


async def wait_for_restore(
    client: QuotaClient,
    username: str,
    status: RestoreStatus,
    *,
    wait_seconds: float,
    interval: float,
    progress: RestoreProgress,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger],
) -> str:
    """Poll the restore until it is over or `wait_seconds` pass; return what to tell the person."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    progress.update(RESTORING)
    while status.state == "running":
        if loop.time() >= deadline:
            log.warning("restore of %s's home still running after %.0f s", username, wait_seconds)
            return STILL_RESTORING
        await asyncio.sleep(interval)
        try:
            status = await client.restore_status(username)
        except (QuotaUnavailable, QuotaRequestError) as exc:
            # The restore goes on in the service; only its status is out of sight for now.
            log.warning("restore status of %s unavailable: %s", username, exc)
    log.info("restore of %s's home %s: %s", username, status.state, status.message)
    return status.message
