"""CRDS in the Roman Calibration kernel: a clear error when reference files cannot be had.

CRDS ends the process (``sys.exit(-1)``) when it can neither reach its server nor find a
prepared cache under ``CRDS_PATH``. In a notebook that shows up as a bare ``SystemExit: -1``.
This module turns it into :class:`ReferenceFilesUnavailable`, whose message says what is missing
and what to do.

The kernelspec loads it as an IPython extension, so romancal steps run in the kernel raise the
clear error without any code in the notebook. Elsewhere, call :func:`install` once, or check up
front with :func:`preflight`.
"""

from __future__ import annotations

import functools
import os
import socket
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

__all__ = ["ReferenceFilesUnavailable", "guard", "install", "preflight"]

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_SERVER = "https://roman-crds.stsci.edu"
_INSTALLED_MARK = "__nexus_crds_guarded__"


class ReferenceFilesUnavailable(RuntimeError):
    """CRDS could not provide reference files (no server reachable and no usable cache)."""


def settings() -> tuple[Path, str]:
    crds_path = Path(os.environ.get("CRDS_PATH") or Path.home() / "crds_cache")
    server = os.environ.get("CRDS_SERVER_URL") or DEFAULT_SERVER
    return crds_path, server


def explain(detail: str = "") -> str:
    crds_path, server = settings()
    config = crds_path / "config" / "roman" / "server_config"
    lines = [
        "CRDS reference files are not available, so this calibration step cannot run.",
        f"  CRDS_PATH       = {crds_path}"
        + ("" if config.exists() else "  (no prepared cache: config/roman/server_config missing)"),
        f"  CRDS_SERVER_URL = {server}  (not reachable from this server)",
        "What you can do:",
        "  * run once with network access so CRDS fills the cache under CRDS_PATH, for example",
        "    `crds sync --contexts roman-operational --fetch-references` for a whole context;",
        "  * or point CRDS_PATH at a cache that already holds the references you need;",
        "  * or give the step its reference files directly, e.g. DQInitStep.call(model,",
        "    override_mask='my_mask.asdf').",
    ]
    if detail:
        lines.append(f"CRDS said: {detail}")
    return "\n".join(lines)


def server_reachable(url: str, timeout: float = 3.0) -> bool:
    parsed = urlparse(url)
    if not parsed.hostname:
        return False
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def preflight() -> None:
    """Raise ReferenceFilesUnavailable unless a CRDS cache or the CRDS server is usable."""
    crds_path, server = settings()
    if (crds_path / "config" / "roman" / "server_config").exists():
        return
    if server_reachable(server):
        return
    raise ReferenceFilesUnavailable(explain())


@contextmanager
def guard() -> Iterator[None]:
    """Turn CRDS's SystemExit inside the block into ReferenceFilesUnavailable."""
    try:
        yield
    except SystemExit as exc:
        raise ReferenceFilesUnavailable(explain(f"exit status {exc.code}")) from None


def _guarded(func: F) -> F:
    if getattr(func, _INSTALLED_MARK, False):
        return func

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with guard():
            return func(*args, **kwargs)

    setattr(wrapper, _INSTALLED_MARK, True)
    return wrapper  # type: ignore[return-value]


def _guard_module(module: types.ModuleType, names: list[str] | None = None) -> int:
    count = 0
    for name in names if names is not None else list(vars(module)):
        obj = getattr(module, name, None)
        if name.startswith("_") or not isinstance(obj, types.FunctionType):
            continue
        if names is None and obj.__module__ != module.__name__:
            continue
        setattr(module, name, _guarded(obj))
        count += 1
    return count


def install() -> int:
    """Guard the CRDS entry points the pipelines use; return how many functions were wrapped."""
    count = 0
    try:
        import crds  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return 0
    count += _guard_module(
        crds, ["getreferences", "getrecommendations", "get_default_context", "locate_file"]
    )
    try:
        from stpipe import crds_client  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return count
    count += _guard_module(crds_client)
    return count


def load_ipython_extension(ipython: Any) -> None:
    """IPython hook: `%load_ext nexus_crds`, or the kernelspec's extra_extensions."""
    install()
