"""One stack builder: the platform's processes for tests, started the way `make dev` starts them.

    stack = Stack.build(workdir, db_url=url)                 # token hub + the quota service
    stack = Stack.build(workdir, oidc=provider)              # hub_config's hub: MyST login via
                                                             # the stand-in, local spawner, and
                                                             # the quota service
    stack = Stack.build(workdir, oidc=provider, quota=False)  # ... the quota service unreachable
    nexus = start_platform(state_dir)                        # the whole of `make dev`

Each process's environment comes from dev/envs.py, the functions `make dev` uses; tests add
only test settings (fail mode, timeouts) and their admin service. The token hub's services,
roles and scopes are hub_config's (quota_hub_config.py). QuotaStack, WebStack, NexusStack and
RunningPlatform are these two classes under the names their tests know.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx

from dev.envs import hub_login_env, hub_services_env, hub_spawn_env, quota_env
from dev.platform import Platform
from dev.procs import free_port
from dev.settings import PORTS, QUOTA_PREFIX, DevSettings, Ports, local_url, new_secrets
from quota_service import db

from .clients import Endpoints, HubClients
from .hub import HubInstance, start_hub
from .oidc import OidcProvider
from .processes import REPO_ROOT, ServerProcess

PREFIX = QUOTA_PREFIX
QUOTA_HUB_CONFIG = Path(__file__).with_name("quota_hub_config.py")
SINGLEUSER_VENV = Path(os.environ.get("NEXUS_HUB_SINGLEUSER_VENV", REPO_ROOT / ".venv-lab"))
# hub_config hubs' admin service: what the hub-side tests read and do (the token hub's has
# the built-in admin role instead).
TEST_ADMIN_SCOPES = (
    "admin:users admin:servers admin:server_state tokens list:users read:users read:groups "
    "read:metrics custom:nexus-quota:admin custom:nexus-quota:jobs"
).split()
TEST_ADMIN_CONFIG = f"""
import os
c.JupyterHub.services = list(c.JupyterHub.services) + [
    {{"name": "test-admin", "api_token": os.environ["TEST_ADMIN_TOKEN"]}}
]
c.JupyterHub.load_roles = list(c.JupyterHub.load_roles) + [
    {{"name": "test-admin", "scopes": {TEST_ADMIN_SCOPES!r}, "services": ["test-admin"]}}
]
"""


def start_quota_service(
    workdir: Path,
    db_url: str,
    *,
    port: int,
    hub_api_url: str,
    token: str,
    env: dict[str, str] | None = None,
) -> ServerProcess:
    """Migrate `db_url`, then run `nexus-quota serve` on `port` until its health answers."""
    db.upgrade(db_url)
    proc = ServerProcess(
        name="nexus-quota",
        argv=[sys.executable, "-m", "quota_service.cli.main", "serve", "--port", str(port)],
        log_path=workdir / "quota-service.log",
        env={
            **quota_env(db_url=db_url, hub_api_url=hub_api_url, token=token),
            # A synchronous transaction on the event loop's thread raises: tests find any.
            db.LOOP_GUARD_ENV: "1",
            **(env or {}),
        },
    ).start()
    try:
        proc.wait_http(f"{local_url(port, PREFIX)}api/v1/health", timeout=60)
    except Exception:
        proc.stop()
        raise
    return proc


def token_hub_env(secrets: Mapping[str, str], quota_url: str) -> dict[str, str]:
    """What QUOTA_HUB_CONFIG reads besides the hub's process environment."""
    return {
        **hub_services_env(quota_url=quota_url, secrets=secrets),
        "NEXUS_CULL_ENABLED": "false",
        "TEST_ADMIN_TOKEN": secrets["admin_token"],
    }


def start_token_hub(
    workdir: Path, secrets: Mapping[str, str], quota_url: str, extra_config: str = ""
) -> HubInstance:
    """A hub with hub_config's services and roles, their tokens from `secrets`, users made
    through the REST API; `secrets["admin_token"]` is its test-admin service's."""
    return start_hub(
        workdir,
        secrets=secrets,
        base_config=QUOTA_HUB_CONFIG,
        extra_config=extra_config,
        env=token_hub_env(secrets, quota_url),
    )


def singleuser_cmd() -> list[str]:
    """The lab server environment built by `make hub-singleuser` (kernels/lab-server's lock)."""
    cmd = SINGLEUSER_VENV / "bin" / "jupyterhub-singleuser"
    if not cmd.exists():
        raise RuntimeError(f"{cmd} is missing: run `make hub-singleuser`")
    return [str(cmd)]


def _tutorials(workdir: Path) -> Path:
    tutorials = workdir / "tutorials"
    (tutorials / "streaming").mkdir(parents=True, exist_ok=True)
    (tutorials / "streaming" / "stream_roman_data.ipynb").write_text(
        json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    return tutorials


def nexus_hub_env(
    workdir: Path, secrets: Mapping[str, str], quota_url: str, oidc: OidcProvider, fail_mode: str
) -> dict[str, str]:
    """hub_config's own hub, as dev runs it, with the tests' fail mode and a short timeout."""
    return {
        **hub_login_env(issuer=oidc.issuer, secrets=secrets),
        **hub_services_env(quota_url=quota_url, secrets=secrets),
        **hub_spawn_env(
            singleuser_cmd=singleuser_cmd(), cull=False, tutorials_dir=_tutorials(workdir)
        ),
        "NEXUS_QUOTA_FAIL_MODE": fail_mode,
        "NEXUS_QUOTA_TIMEOUT_SECONDS": "3",
        "TEST_ADMIN_TOKEN": secrets["admin_token"],
    }


@dataclass
class Stack(HubClients):
    """A hub and (unless built with `quota=False`) the quota service on `quota_port`."""

    workdir: Path
    hub: HubInstance
    quota: ServerProcess | None
    quota_port: int
    secrets: dict[str, str]
    db_url: str = ""
    oidc_provider: OidcProvider | None = None
    clients: list[httpx.Client] = field(default_factory=list)
    admins: dict[str, httpx.Client] = field(default_factory=dict)
    _tokens: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        workdir: Path,
        *,
        oidc: OidcProvider | None = None,
        quota: bool = True,
        db_url: str | None = None,
        fail_mode: str = "closed",
        hub_env: dict[str, str] | None = None,
        quota_env: dict[str, str] | None = None,
        extra_hub_config: str = "",
    ) -> Self:
        """With `oidc`, hub_config's own hub (login through that provider, local spawner);
        without, the token hub. `quota=False` leaves the quota service's port unanswered."""
        workdir.mkdir(parents=True, exist_ok=True)
        secrets = new_secrets()
        port = free_port()
        db_url = db_url or f"sqlite:///{workdir / 'quota.sqlite'}"
        if oidc is None:
            hub = start_token_hub(
                workdir / "hub", secrets, local_url(port, PREFIX), extra_hub_config
            )
        else:
            env = nexus_hub_env(workdir, secrets, local_url(port, PREFIX), oidc, fail_mode)
            hub = start_hub(
                workdir / "hub",
                secrets=secrets,
                env={**env, **(hub_env or {})},
                extra_config=TEST_ADMIN_CONFIG + extra_hub_config,
            )
        stack = cls(workdir, hub, None, port, secrets, db_url, oidc)
        if quota:
            try:
                stack.quota = start_quota_service(
                    workdir,
                    db_url,
                    port=port,
                    hub_api_url=hub.api_url,
                    token=secrets["quota_service_token"],
                    env=quota_env,
                )
            except Exception:
                hub.stop()
                raise
        return stack

    # --- where things are ---
    @property
    def url(self) -> str:
        """The quota service itself, not through the hub's proxy."""
        return local_url(self.quota_port)

    @property
    def quota_url(self) -> str:
        return local_url(self.quota_port, PREFIX)

    @property
    def quota_api_url(self) -> str:
        return f"{self.quota_url}api/v1/"

    @property
    def api_url(self) -> str:
        return self.quota_api_url

    def endpoints(self) -> Endpoints:
        return Endpoints(self.hub.url, self.quota_api_url, self.admin_token, self.oidc_provider)

    @property
    def proc(self) -> ServerProcess:
        assert self.quota is not None, "this stack runs no quota service"
        return self.quota

    # --- tokens: the hub's services', and users' ---
    @property
    def tokens(self) -> dict[str, str]:
        s = self.secrets
        return {
            "quota": s["quota_service_token"],
            "admin": s["admin_token"],
            "hook": s["quota_hook_token"],
            "jobs": s["quota_jobs_token"],
        }

    @property
    def admin_token(self) -> str:
        return self.secrets["admin_token"]

    @property
    def admin_service_token(self) -> str:
        return self.admin_token

    @property
    def hook_token(self) -> str:
        return self.secrets["quota_hook_token"]

    @property
    def jobs_token(self) -> str:
        return self.secrets["quota_jobs_token"]

    @property
    def quota_token(self) -> str:
        return self.secrets["quota_service_token"]

    def api(self, token: str | None, timeout: float = 30.0) -> httpx.Client:
        """A client of the quota service's API (directly), with `token` if any."""
        headers = {"Authorization": f"token {token}"} if token else {}
        return httpx.Client(base_url=self.api_url, headers=headers, timeout=timeout)

    def user_token(self, name: str, *, admin: bool = False) -> str:
        """Create the hub user if needed and return an API token of theirs."""
        if name in self._tokens:
            return self._tokens[name]
        with self.hub.api(self.admin_token) as hub:
            resp = hub.post(f"users/{name}", json={"admin": admin})
            if resp.status_code not in (201, 409):
                resp.raise_for_status()
            if admin and resp.status_code == 409:
                hub.patch(f"users/{name}", json={"admin": True}).raise_for_status()
            token = hub.post(f"users/{name}/tokens", json={"note": "tests"})
            token.raise_for_status()
        self._tokens[name] = str(token.json()["token"])
        return self._tokens[name]

    def log_tail(self) -> str:
        return self.hub.proc.tail()

    def stop(self) -> None:
        """The hub first: its post-stop hooks still reach the quota service."""
        self.close_clients()
        try:
            self.hub.stop()
        finally:
            if self.quota is not None:
                self.quota.stop()


# --- the whole platform: dev/platform.py, what `make dev` runs ---
def free_ports() -> Ports:
    chosen: set[int] = set()
    values: dict[str, int] = {}
    for name in PORTS:
        port = free_port()
        while port in chosen:
            port = free_port()
        chosen.add(port)
        values[name] = port
    return Ports(**values)


def platform_settings(state_dir: Path, **kwargs: Any) -> DevSettings:
    """Settings for a platform of the tests' own: free ports, no idle culler."""
    return DevSettings(state_dir=state_dir, ports=free_ports(), cull=False, **kwargs)


@dataclass
class RunningPlatform(HubClients):
    platform: Platform
    clients: list[httpx.Client] = field(default_factory=list)
    admins: dict[str, httpx.Client] = field(default_factory=dict)

    @property
    def settings(self) -> DevSettings:
        return self.platform.settings

    @property
    def url(self) -> str:
        return self.settings.hub_url

    @property
    def state_dir(self) -> Path:
        return self.settings.state_dir

    def endpoints(self) -> Endpoints:
        """The quota API through the hub's proxy, as people reach it; the dev-admin service
        (dev/jupyterhub_config.py)."""
        return Endpoints(
            self.url,
            f"{self.url}{QUOTA_PREFIX}api/v1/",
            self.settings.secrets()["admin_token"],
            OidcProvider(issuer=self.settings.oidc_issuer),
        )

    def wait_no_server(self, user: str, timeout: float = 60) -> None:
        self.wait_gone(user, "", timeout, interval=0.3)

    def log(self, name: str) -> str:
        return self.settings.log(name).read_text(errors="replace")

    def log_tail(self) -> str:
        return "\n".join(self.log("jupyterhub").splitlines()[-30:])

    def close(self) -> None:
        self.close_clients()
        self.platform.stop()


def start_platform(state_dir: Path, **kwargs: Any) -> RunningPlatform:
    """The whole platform through dev/, as `make dev` starts it, on free ports."""
    platform = Platform(platform_settings(state_dir, **kwargs), quiet=True)
    platform.start()
    return RunningPlatform(platform)
