"""The hub side with real parts: OIDC provider, JupyterHub (hub_config), quota service.

    stack = start_stack(workdir, provider)            # hub + quota service, fail mode closed
    browser = stack.login("ellen")                     # signed in through the OIDC provider
    resp = stack.spawn(browser, {"profile": "small"})  # the spawn form, posted like a browser
    stack.wait_ready("ellen")
    stack.quota_admin().get("admin/users/ellen")

`start_stack(..., quota=False)` points the hub at a port where nothing listens: the quota
service is unreachable, for the fail-mode tests. Single-user servers run from the lab
server environment built by `make hub-singleuser` (kernels/lab-server's lock).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.hub import HubInstance, start_hub
from tests.support.oidc import OidcProvider
from tests.support.processes import REPO_ROOT, PollTimeout, ServerProcess, free_port, poll_until
from tests.support.quota import start_quota_service

PREFIX = "/services/quota/"
SINGLEUSER_VENV = Path(os.environ.get("NEXUS_HUB_SINGLEUSER_VENV", REPO_ROOT / ".venv-lab"))
TEST_ADMIN_SCOPES = [
    "admin:users",
    "admin:servers",
    "admin:server_state",
    "tokens",
    "list:users",
    "read:users",
    "read:groups",
    "read:metrics",
    "custom:nexus-quota:admin",
    "custom:nexus-quota:jobs",
]
EXTRA_CONFIG = f"""
import os
c.JupyterHub.services = list(c.JupyterHub.services) + [
    {{"name": "test-admin", "api_token": os.environ["TEST_ADMIN_TOKEN"]}}
]
c.JupyterHub.load_roles = list(c.JupyterHub.load_roles) + [
    {{"name": "test-admin", "scopes": {TEST_ADMIN_SCOPES!r}, "services": ["test-admin"]}}
]
"""


def singleuser_cmd() -> list[str]:
    cmd = SINGLEUSER_VENV / "bin" / "jupyterhub-singleuser"
    if not cmd.exists():
        raise RuntimeError(f"{cmd} is missing: run `make hub-singleuser`")
    return [str(cmd)]


@dataclass
class NexusStack:
    provider: OidcProvider
    hub: HubInstance
    quota: ServerProcess | None
    quota_url: str
    tokens: dict[str, str]
    workdir: Path
    db_url: str = ""
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def quota_api_url(self) -> str:
        return f"{self.quota_url}api/v1/"

    def login(self, sub: str) -> httpx.Client:
        """A browser-like client signed in as `sub`."""
        client = httpx.Client(timeout=60)
        self.clients.append(client)
        resp = self.provider.login(client, self.hub.url, sub)
        me = client.get(f"{self.hub.url}/hub/api/user")
        if me.status_code != 200:
            raise AssertionError(f"login of {sub} failed: {resp.status_code} {resp.url}")
        return client

    def hub_admin(self) -> httpx.Client:
        client = self.hub.api(self.tokens["admin"])
        self.clients.append(client)
        return client

    def quota_admin(self) -> httpx.Client:
        client = httpx.Client(
            base_url=self.quota_api_url,
            headers={"Authorization": f"token {self.tokens['admin']}"},
            timeout=30,
        )
        self.clients.append(client)
        return client

    def spawn_page(self, browser: httpx.Client, server_name: str = "") -> httpx.Response:
        suffix = f"/{server_name}" if server_name else ""
        user = self.whoami(browser)
        return browser.get(f"{self.hub.url}/hub/spawn/{user}{suffix}")

    def whoami(self, browser: httpx.Client) -> str:
        resp = browser.get(f"{self.hub.url}/hub/api/user")
        resp.raise_for_status()
        return str(resp.json()["name"])

    def spawn(
        self, browser: httpx.Client, form: dict[str, str], server_name: str = ""
    ) -> httpx.Response:
        """Post the spawn form as the browser would (with the `_xsrf` token)."""
        page = self.spawn_page(browser, server_name)
        page.raise_for_status()
        xsrf = browser.cookies.get("_xsrf", domain="127.0.0.1") or ""
        user = self.whoami(browser)
        suffix = f"/{server_name}" if server_name else ""
        return browser.post(
            f"{self.hub.url}/hub/spawn/{user}{suffix}",
            data={**form, "_xsrf": xsrf},
            follow_redirects=False,
        )

    def server(self, user: str, name: str = "") -> dict[str, Any] | None:
        resp = self.hub_admin().get(f"users/{user}")
        resp.raise_for_status()
        servers: dict[str, Any] = resp.json().get("servers") or {}
        return servers.get(name)

    def wait_ready(self, user: str, name: str = "", timeout: float = 120) -> dict[str, Any]:
        try:
            server = poll_until(
                lambda: self.server(user, name),
                timeout,
                message=f"{user}/{name} not ready",
                until=lambda s: bool(s and s.get("ready")),
            )
        except PollTimeout as exc:
            raise AssertionError(f"{exc}:\n{self.hub.proc.tail()}") from None
        assert server is not None
        return server

    def stop_server(self, user: str, name: str = "", timeout: float = 60) -> None:
        path = f"users/{user}/servers/{name}" if name else f"users/{user}/server"
        resp = self.hub_admin().delete(path)
        assert resp.status_code in (202, 204), resp.text
        self.wait_gone(user, name, timeout)

    def server_env(self, user: str, name: str = "") -> dict[str, str]:
        """The environment of a running local server's process (from /proc)."""
        server = self.server(user, name)
        assert server is not None, f"{user}/{name} is not running"
        pid = int(server["state"]["pid"])
        raw = Path(f"/proc/{pid}/environ").read_bytes()
        pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
        return {k.decode(): v.decode(errors="replace") for k, v in pairs}

    def wait_gone(self, user: str, name: str = "", timeout: float = 60) -> None:
        poll_until(
            lambda: self.server(user, name),
            timeout,
            message=f"{user}/{name} still listed by the hub",
            until=lambda server: server is None,
        )

    def open_sessions(self) -> list[dict[str, Any]]:
        resp = self.quota_admin().get("hub/sessions", params={"open": "true"})
        resp.raise_for_status()
        return list(resp.json())

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        try:
            self.hub.stop()
        finally:
            if self.quota is not None:
                self.quota.stop()


def start_stack(
    workdir: Path,
    provider: OidcProvider,
    *,
    fail_mode: str = "closed",
    quota: bool = True,
    env: dict[str, str] | None = None,
    quota_env: dict[str, str] | None = None,
    extra_config: str = "",
) -> NexusStack:
    """Start the hub with hub_config and (unless `quota=False`) the quota service."""
    workdir.mkdir(parents=True, exist_ok=True)
    tokens = {k: secrets.token_hex(16) for k in ("quota", "admin", "hook", "jobs")}
    quota_port = free_port()
    quota_url = f"http://127.0.0.1:{quota_port}{PREFIX}"
    tutorials = workdir / "tutorials"
    (tutorials / "streaming").mkdir(parents=True, exist_ok=True)
    (tutorials / "streaming" / "stream_roman_data.ipynb").write_text(
        json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    hub_env = {
        "NEXUS_OIDC_ISSUER": provider.issuer,
        "NEXUS_OIDC_CLIENT_ID": "roman-nexus-hub",
        "NEXUS_OIDC_CLIENT_SECRET": secrets.token_hex(16),
        "NEXUS_ALLOWED_GROUPS": "myst-users",
        "NEXUS_ADMIN_GROUPS": "nexus-admins",
        "NEXUS_OIDC_ADMIN_CLAIM": "nexus_roles",
        "NEXUS_QUOTA_URL": quota_url,
        "NEXUS_QUOTA_FAIL_MODE": fail_mode,
        "NEXUS_QUOTA_SERVICE_TOKEN": tokens["quota"],
        "NEXUS_QUOTA_HOOK_TOKEN": tokens["hook"],
        "NEXUS_QUOTA_JOBS_TOKEN": tokens["jobs"],
        "NEXUS_QUOTA_TIMEOUT_SECONDS": "3",
        "NEXUS_CULL_ENABLED": "false",
        "NEXUS_TUTORIALS_DIR": str(tutorials),
        "NEXUS_SINGLEUSER_CMD": json.dumps(singleuser_cmd()),
        "TEST_ADMIN_TOKEN": tokens["admin"],
    }
    hub_env.update(env or {})
    hub = start_hub(workdir / "hub", env=hub_env, extra_config=EXTRA_CONFIG + extra_config)
    proc: ServerProcess | None = None
    db_url = f"sqlite:///{workdir / 'quota.sqlite'}"
    if quota:
        try:
            proc = start_quota_service(
                workdir,
                db_url,
                port=quota_port,
                hub_api_url=hub.api_url,
                token=tokens["quota"],
                env=quota_env,
            )
        except Exception:
            hub.stop()
            raise
    return NexusStack(
        provider=provider,
        hub=hub,
        quota=proc,
        quota_url=quota_url,
        tokens=tokens,
        workdir=workdir,
        db_url=db_url,
    )
