"""The whole dev platform (dev/platform.py, what `make dev` runs) for the browser tests.

    def test_x(nexus: RunningPlatform) -> None:
        nexus.url                         # http://127.0.0.1:<free port>
        nexus.hub_admin().get("users/ellen")
        nexus.quota_admin().get("admin/users/ellen")

One platform per test session, on free ports, in a fresh state directory under
test-output/e2e/state; logs in test-output/e2e/state/logs/<process>.log.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from dev.platform import Platform
from dev.procs import free_port
from dev.settings import PORTS, QUOTA_PREFIX, DevSettings, Ports

from .processes import TEST_OUTPUT, poll_until


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
class RunningPlatform:
    platform: Platform
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def settings(self) -> DevSettings:
        return self.platform.settings

    @property
    def url(self) -> str:
        return self.settings.hub_url

    @property
    def state_dir(self) -> Path:
        return self.settings.state_dir

    def _client(self, base_url: str) -> httpx.Client:
        token = self.settings.secrets()["admin_token"]
        client = httpx.Client(
            base_url=base_url, headers={"Authorization": f"token {token}"}, timeout=30
        )
        self.clients.append(client)
        return client

    def hub_admin(self) -> httpx.Client:
        """The Hub REST API as the dev-admin service."""
        return self._client(f"{self.url}/hub/api/")

    def quota_admin(self) -> httpx.Client:
        """The quota service's API as the dev-admin service (an admin there)."""
        return self._client(f"{self.url}{QUOTA_PREFIX}api/v1/")

    def server(self, user: str) -> dict[str, Any] | None:
        resp = self.hub_admin().get(f"users/{user}")
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        servers: dict[str, Any] = resp.json().get("servers") or {}
        return servers.get("")

    def wait_no_server(self, user: str, timeout: float = 60) -> None:
        poll_until(
            lambda: self.server(user),
            timeout,
            0.3,
            f"{user}'s server still listed",
            until=lambda server: server is None,
        )

    def log(self, name: str) -> str:
        return self.settings.log(name).read_text(errors="replace")

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.platform.stop()


@pytest.fixture(scope="session")
def nexus() -> Iterator[RunningPlatform]:
    """The whole platform, started once per session through dev/ like `make dev` does."""
    state = TEST_OUTPUT / "e2e" / "state"
    shutil.rmtree(state, ignore_errors=True)
    platform = Platform(platform_settings(state), quiet=True)
    platform.start()
    running = RunningPlatform(platform)
    try:
        yield running
    finally:
        running.close()
