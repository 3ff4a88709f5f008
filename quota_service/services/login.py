"""What happens when a person starts a server: bring back a home archived while they were away.

The synchronous form, for the CLI and tests, is `jobs.restore.restore_at_login`.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from ..factory import Factory
from ..jobs.restore_background import has_archived_home
from ..models.restores import RestoreView


async def start_restore(factory: Factory, username: str) -> RestoreView | None:
    """Start restoring this person's archived home in the background; None when there is none.

    The spawn decision calls it and returns at once; the hub's hook polls the restore's status
    (`RestoreRunner.status`) outside the decision's timeout.
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
