"""What happens when a person starts a server: bring back a home archived while they were away."""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool

from ..errors import Conflict
from ..factory import Factory
from ..models.restores import RestoreView
from .purge import restore_if_archived
from .restores import RestoreRunner, has_archived_home
from .storage import StorageConfig

log = logging.getLogger(__name__)


async def start_restore(factory: Factory, username: str) -> RestoreView | None:
    """Start restoring this person's archived home in the background; None when there is none.

    The spawn decision calls it and returns at once; the hub's hook polls the restore's status
    (`RestoreRunner.status`) outside the decision's timeout.
    """
    if not factory.settings.restore_on_login:
        return None
    config = StorageConfig.from_settings(factory.settings)
    # Only where homes are mounted; the chart mounts them in the service (docs/storage.md).
    if not config.home_mounted:
        return None
    if not await factory.run(lambda svc: has_archived_home(svc, username)):
        return None
    return await run_in_threadpool(RestoreRunner(factory, config).begin, username)


def restore_at_login(factory: Factory, config: StorageConfig, username: str) -> str | None:
    """Restore an inactivity archive of this person's home now; return a notice when it did.

    The synchronous form (CLI and tests); a spawn uses `start_restore`. A purge job holding the
    lock or an unreachable archive is logged and the next login tries again.
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
