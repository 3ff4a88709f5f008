"""JupyterLab server settings that only `make dev` adds (found through JUPYTER_CONFIG_PATH).

Read-only files behave as they do for a non-root user. In production the single-user server
runs as jovyan and the tutorials are a read-only mount; on a dev machine the hub and its local
servers often run as root, which the kernel lets write anywhere. So the contents manager here
judges "writable" by the permission bits (the owner's write bit of the file, or of its folder
for a new file) and refuses a save over a file without one with 403, as jovyan would get.
"""

import importlib
import os
import stat
from typing import Any

c: Any = get_config()  # type: ignore[name-defined]  # noqa: F821 - provided by traitlets

_base: Any = importlib.import_module(
    "jupyter_server.services.contents.largefilemanager"
).AsyncLargeFileManager
_web: Any = importlib.import_module("tornado.web")


def _owner_writable(os_path: str) -> bool:
    try:
        return bool(os.stat(os_path).st_mode & stat.S_IWUSR)
    except OSError:
        return False


class PermissionBitsFileManager(_base):  # type: ignore[misc]
    """`writable` and saves follow the permission bits even for root."""

    def is_writable(self, path: str) -> bool:
        os_path = self._get_os_path(path=path.strip("/"))
        return bool(super().is_writable(path)) and _owner_writable(os_path)


def refuse_read_only(model: Any, path: str, contents_manager: Any, **kwargs: Any) -> None:
    os_path = contents_manager._get_os_path(path=path.strip("/"))
    target = os_path if os.path.lexists(os_path) else os.path.dirname(os_path)
    if not _owner_writable(target):
        raise _web.HTTPError(403, f"Permission denied: {path} is read-only")


c.ServerApp.contents_manager_class = PermissionBitsFileManager
c.ContentsManager.pre_save_hook = refuse_read_only
