"""Moved to ``quota_service.jobs`` (issue 14): the scan job is ``jobs/scan.py`` and
``StorageConfig`` is in ``jobs/purge_common.py``. Kept only for ``services/restores.py``,
which is outside this change; import from ``quota_service.jobs`` instead."""

from ..jobs.purge_common import StorageConfig

__all__ = ["StorageConfig"]
