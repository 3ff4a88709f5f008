"""Hub services, custom scopes and roles for the quota service, its hook and its jobs."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from .names import CULLER_SERVICE, HOOK_SERVICE, JOBS_SERVICE, QUOTA_ENV_PREFIX, QUOTA_SERVICE

# The scopes, re-exported: callers import them from here.
from .names import SCOPE_ACCESS as SCOPE_ACCESS
from .names import SCOPE_ADMIN as SCOPE_ADMIN
from .names import SCOPE_JOBS as SCOPE_JOBS
from .names import SCOPE_SPAWN as SCOPE_SPAWN
from .settings import HubSettings

CUSTOM_SCOPES = {
    SCOPE_SPAWN: {
        "description": "Ask the quota service for entitlements and spawn decisions; "
        "open and close sessions."
    },
    SCOPE_JOBS: {"description": "Run quota maintenance jobs (reconcile, expire, scan, purge)."},
    SCOPE_ADMIN: {
        "description": "Administer the quota service: decide requests, grant and revoke "
        "allocations, read everyone's usage."
    },
}

# What the reconciler needs from the Hub REST API: list users and their servers with
# activity, stop servers; nothing else.
RECONCILER_HUB_SCOPES = [
    "list:users",
    "read:users:name",
    "read:users:activity",
    "read:servers",
    "delete:servers",
]
# Team collaboration servers (hub_config/collab.py): create the team's hub user, start and
# stop its server, share it with the team's members. JupyterHub has no filter that names
# users not yet created, so these are unfiltered; the quota service uses them only on
# `team~` users (quota_service/services/collab.py), and `admin:users` cannot make admins.
COLLAB_HUB_SCOPES = ["admin:users", "servers", "shares"]
CULLER_HUB_SCOPES = [
    "list:users",
    "read:users:name",
    "read:users:activity",
    "read:servers",
    "delete:servers",
]


def quota_service_entry(settings: HubSettings, *, managed: bool) -> dict[str, Any]:
    """The `quota` service: reachable by users at its prefix, OAuth without a prompt."""
    parts = urlsplit(settings.quota_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    service: dict[str, Any] = {
        "name": QUOTA_SERVICE,
        "url": origin,
        "oauth_no_confirm": True,
        # Sign-in tokens for the quota pages carry the admin scope for those who hold it
        # (the hub grants only what the person has); everyone else gets access only.
        "oauth_client_allowed_scopes": [SCOPE_ADMIN],
    }
    if settings.quota_service_token is not None:
        service["api_token"] = settings.quota_service_token.get_secret_value()
    if managed:
        port = parts.port or 80
        service["command"] = list(settings.quota_command)
        env = {
            QUOTA_ENV_PREFIX + "BIND_PORT": str(port),
            QUOTA_ENV_PREFIX + "BIND_HOST": parts.hostname or "",
        }
        env.update(settings.quota_environment)
        service["environment"] = env
    return service


def token_service(name: str, token: str | None) -> dict[str, Any]:
    service: dict[str, Any] = {"name": name}
    if token:
        service["api_token"] = token
    return service


def quota_admin_role(
    admin_groups: Sequence[str] = (), admin_users: Sequence[str] = ()
) -> dict[str, Any]:
    """Quota admin rights, as a scope on the token. JupyterHub refuses to change its built-in
    `admin` role, so this role goes to the same people the authenticator makes hub admins:
    the members of `admin_groups` and the `admin_users`."""
    role: dict[str, Any] = {
        "name": "quota-admin",
        "description": "Administer the quota service.",
        "scopes": [SCOPE_ADMIN, SCOPE_ACCESS],
    }
    if admin_groups:
        role["groups"] = sorted(admin_groups)
    if admin_users:
        role["users"] = sorted(admin_users)
    return role


def roles(
    admin_groups: Sequence[str] = (), admin_users: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The hook and the jobs get only the scopes they need; users may open the quota service;
    the hub's admins (by group or name) administer it."""
    return [
        {
            "name": "user",
            "scopes": ["self", SCOPE_ACCESS],
        },
        quota_admin_role(admin_groups, admin_users),
        {
            "name": "quota-service",
            "description": "The quota service reads users and groups to resolve tokens, and "
            "runs team collaboration servers.",
            "scopes": ["read:users", "read:groups", *COLLAB_HUB_SCOPES],
            "services": [QUOTA_SERVICE],
        },
        {
            "name": "quota-hub-hook",
            "description": "The hub's spawner hook: spawn decisions and sessions.",
            "scopes": [SCOPE_SPAWN],
            "services": [HOOK_SERVICE],
        },
        {
            "name": "quota-jobs",
            "description": "Scheduled quota jobs, including the reconciler.",
            "scopes": [SCOPE_JOBS, *RECONCILER_HUB_SCOPES],
            "services": [JOBS_SERVICE],
        },
    ]


def culler_service(settings: HubSettings) -> dict[str, Any]:
    """jupyterhub-idle-culler at the longest tier idle time; the reconciler culls shorter."""
    return {
        "name": CULLER_SERVICE,
        "command": [
            sys.executable,
            "-m",
            "jupyterhub_idle_culler",
            f"--timeout={settings.cull_timeout_seconds}",
            f"--cull-every={settings.cull_every_seconds}",
        ],
    }


def culler_role() -> dict[str, Any]:
    return {
        "name": CULLER_SERVICE,
        "description": "Stop idle servers.",
        "scopes": list(CULLER_HUB_SCOPES),
        "services": [CULLER_SERVICE],
    }


def configure_services(c: Any, settings: HubSettings, *, local: bool) -> None:
    """Register the services and roles.

    In z2jh the chart owns `hub.services` tokens and the culler (`cull.*` values); the
    entries set here are merged by name with what the chart already put into `c`.
    """
    services = {s["name"]: s for s in _existing(c.JupyterHub, "services")}
    managed = local and settings.quota_managed
    quota = quota_service_entry(settings, managed=managed)
    services[QUOTA_SERVICE] = {**services.get(QUOTA_SERVICE, {}), **quota}
    for name, token in (
        (HOOK_SERVICE, settings.quota_hook_token),
        (JOBS_SERVICE, settings.quota_jobs_token),
    ):
        entry = token_service(name, token.get_secret_value() if token else None)
        services[name] = {**services.get(name, {}), **entry}
    role_list = {r["name"]: r for r in _existing(c.JupyterHub, "load_roles")}
    for role in roles(settings.admin_groups, settings.admin_users):
        role_list[role["name"]] = role
    if local and settings.cull_enabled:
        services[CULLER_SERVICE] = culler_service(settings)
        role_list[CULLER_SERVICE] = culler_role()
    c.JupyterHub.services = list(services.values())
    c.JupyterHub.load_roles = list(role_list.values())
    scopes = dict(_existing_dict(c.JupyterHub, "custom_scopes"))
    scopes.update(CUSTOM_SCOPES)
    c.JupyterHub.custom_scopes = scopes


def _existing(section: Any, key: str) -> list[dict[str, Any]]:
    value = section.get(key) if hasattr(section, "get") else None
    return list(value or [])


def _existing_dict(section: Any, key: str) -> dict[str, Any]:
    value = section.get(key) if hasattr(section, "get") else None
    return dict(value or {})
