"""Entry point for the z2jh hub: `hub.extraConfig` runs
`from hub_config.z2jh import configure; configure(c)`.

Non-secret settings come from the chart's `custom.nexus` values (read with z2jh's
`get_config`), overridden by `NEXUS_*` environment variables; secrets only from the
environment (the chart maps them from a Secret via `hub.extraEnv`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .config import configure_kubernetes
from .hook import QuotaSpawnHook
from .settings import load_settings


def _z2jh_get_config() -> Callable[[str, Any], Any]:
    # z2jh.py is on the hub image's path (/usr/local/etc/jupyterhub/z2jh.py).
    from z2jh import get_config  # type: ignore[import-not-found]

    return get_config  # type: ignore[no-any-return]


def configure(c: Any, get_config: Callable[[str, Any], Any] | None = None) -> QuotaSpawnHook:
    """Apply the Nexus hub configuration for KubeSpawner to `c`."""
    getter = get_config or _z2jh_get_config()
    custom = getter("custom.nexus", {}) or {}
    if not isinstance(custom, dict):
        raise TypeError(f"custom.nexus must be a mapping, got {type(custom).__name__}")
    custom = dict(custom)
    callback = ingress_callback_url(getter)
    if callback and "oidc_callback_url" not in custom:
        custom["oidc_callback_url"] = callback
    return configure_kubernetes(c, load_settings(custom))


def ingress_callback_url(getter: Callable[[str, Any], Any]) -> str | None:
    """The OAuth callback URL on the ingress's first host, always https.

    Behind the ALB the hub cannot guess it: the proxy appends its own hop to
    `X-Forwarded-Proto` ("https,http"), so a derived URL would be http:// and MyST refuses it.
    """
    if not getter("ingress.enabled", False):
        return None
    hosts = getter("ingress.hosts", []) or []
    if not hosts:
        return None
    base = str(getter("hub.baseUrl", "/") or "/")
    base = "/" + base.strip("/") + "/" if base.strip("/") else "/"
    return f"https://{hosts[0]}{base}hub/oauth_callback"
