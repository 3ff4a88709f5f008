"""Apply the whole hub configuration to a traitlets config object `c`.

`configure_local` (jupyterhub_config.py) and `hub_config.z2jh.configure` share
`configure_common`: login, services, roles, the quota hooks and the notices.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from . import collab
from .apply import KubeApplier, LocalApplier, StorageApplier
from .auth import configure_authenticator
from .hook import QuotaSpawnHook
from .named_servers import configure_named_servers
from .profiles import LocalOptionsForm, ProfileList, options_from_form
from .readiness import ReadyLocalProcessSpawner, ready_kube_spawner
from .services import configure_services
from .settings import HubSettings
from .standing import StandingBoard, make_post_auth_hook

TEMPLATES = Path(__file__).resolve().parent / "templates"


def make_hook(c: Any, settings: HubSettings, storage: StorageApplier) -> QuotaSpawnHook:
    """The one hook instance: its traits default to `settings`; `c.QuotaSpawnHook` may
    still set any of them."""
    hook = QuotaSpawnHook(config=c, settings=settings)
    hook.storage = storage
    return hook


def configure_common(
    c: Any, settings: HubSettings, storage: StorageApplier, *, local: bool
) -> QuotaSpawnHook:
    configure_authenticator(c, settings)
    configure_services(c, settings, local=local)
    hook = make_hook(c, settings, storage)
    c.Spawner.pre_spawn_hook = hook.pre_spawn_hook
    c.Spawner.post_stop_hook = hook.post_stop_hook
    paths = [str(TEMPLATES), *[p for p in (c.JupyterHub.get("template_paths") or []) if p]]
    c.JupyterHub.template_paths = list(dict.fromkeys(paths))
    template_vars = dict(c.JupyterHub.get("template_vars") or {})
    template_vars["announcement_home"] = hook.notices.announcement
    template_vars["announcement_spawn"] = hook.notices.announcement
    standing = StandingBoard(settings.quota_public_path)
    teams = collab.TeamBoard()

    def on_entitlements(ent: Any) -> None:
        standing.record(ent)
        teams.record(ent)

    hook.client.on_entitlements = on_entitlements
    template_vars["nexus_standing"] = standing
    template_vars["nexus_team_servers"] = teams
    template_vars["nexus_collab_page"] = settings.quota_public_path.rstrip("/") + "/collab"
    c.JupyterHub.template_vars = template_vars
    c.Authenticator.post_auth_hook = make_post_auth_hook(hook, standing)
    configure_named_servers(c, hook)
    return hook


def configure_local(c: Any, settings: HubSettings) -> QuotaSpawnHook:
    """Local dev and tests: SimpleLocalProcessSpawner, homes under the state directory."""
    state = settings.state_dir.resolve()
    hub_dir = state / "hub"
    hub_dir.mkdir(parents=True, exist_ok=True)
    settings.local_homes.mkdir(parents=True, exist_ok=True)
    settings.local_scratch.mkdir(parents=True, exist_ok=True)

    c.JupyterHub.bind_url = settings.bind_url
    c.JupyterHub.hub_bind_url = settings.hub_bind_url
    c.ConfigurableHTTPProxy.api_url = settings.proxy_api_url
    c.ConfigurableHTTPProxy.pid_file = str(hub_dir / "jupyterhub-proxy.pid")
    c.JupyterHub.db_url = settings.hub_db_url or f"sqlite:///{hub_dir / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(hub_dir / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(hub_dir / "jupyterhub.pid")

    c.JupyterHub.spawner_class = ReadyLocalProcessSpawner
    c.ReadyPollMixin.ready_poll_interval = settings.spawner_ready_poll_seconds
    c.SimpleLocalProcessSpawner.home_dir_template = str(settings.local_homes / "{username}")
    c.Spawner.start_timeout = settings.spawner_start_timeout
    c.JupyterHub.concurrent_spawn_limit = settings.concurrent_spawn_limit
    c.JupyterHub.activity_resolution = settings.activity_resolution_seconds
    c.Spawner.http_timeout = settings.spawner_start_timeout
    if settings.singleuser_cmd:
        c.Spawner.cmd = list(settings.singleuser_cmd)
    if os.geteuid() == 0:
        # Local dev and CI machines often run as root; jupyter-server refuses that by default.
        c.Spawner.args = [*list(c.Spawner.get("args") or []), "--allow-root"]

    hook = configure_common(c, settings, LocalApplier(settings), local=True)
    c.Spawner.options_form = LocalOptionsForm(ProfileList(hook))
    c.Spawner.options_from_form = options_from_form
    return hook


def configure_kubernetes(c: Any, settings: HubSettings) -> QuotaSpawnHook:
    """Inside the z2jh hub: KubeSpawner with the tier-filtered profile list."""
    c.JupyterHub.spawner_class = ready_kube_spawner()
    c.ReadyPollMixin.ready_poll_interval = settings.spawner_ready_poll_seconds
    hook = configure_common(c, settings, KubeApplier(settings), local=False)
    c.KubeSpawner.profile_list = ProfileList(hook)
    return hook
