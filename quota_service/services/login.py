"""What happens when a person starts a server: bring back a home archived while they were away."""

from __future__ import annotations

import logging

from ..errors import Conflict
from ..factory import Factory
from .purge import restore_if_archived
from .storage import StorageConfig

log = logging.getLogger(__name__)


def restore_at_login(factory: Factory, config: StorageConfig, username: str) -> str | None:
    """Restore an inactivity archive of this person's home; return a notice when it did.

    Never blocks the spawn: a purge job holding the lock or an unreachable archive is logged
    and the next login tries again.
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
