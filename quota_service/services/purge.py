"""Moved to ``quota_service.jobs.purge`` (issue 14): kept only for ``services/restores.py``,
which is outside this change; import from ``quota_service.jobs`` instead."""

from ..jobs.purge import WHOLE_HOME, PurgeService

__all__ = ["WHOLE_HOME", "PurgeService"]
