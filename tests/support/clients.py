"""What tests do with a running hub, whichever stack started it (tests/support/stack.py).

Admin clients of the Hub and quota APIs, a browser-like sign-in through the OIDC stand-in,
spawns posted like the spawn form, and the hub's view of servers, waited on with poll_until.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .oidc import OidcProvider
from .processes import PollTimeout, poll_until


@dataclass(frozen=True)
class Endpoints:
    """Where a stack's parts answer."""

    hub_url: str  # public, through the hub's proxy
    quota_api_url: str
    admin_token: str  # the stack's admin service's
    oidc: OidcProvider | None = None


class HubClients:
    """Mixed into the stacks, which say where things are (`endpoints`)."""

    clients: list[httpx.Client]
    admins: dict[str, httpx.Client]  # base URL -> its admin client, made once

    def endpoints(self) -> Endpoints:
        raise NotImplementedError

    def log_tail(self) -> str:
        """The end of the hub's log, for a failure message."""
        return ""

    def _client(self, base_url: str, **kwargs: Any) -> httpx.Client:
        client = httpx.Client(base_url=base_url, **kwargs)
        self.clients.append(client)
        return client

    def _admin(self, base_url: str) -> httpx.Client:
        """One client per API: the waits below ask the hub every few tenths of a second."""
        if base_url not in self.admins:
            headers = {"Authorization": f"token {self.endpoints().admin_token}"}
            self.admins[base_url] = self._client(base_url, headers=headers, timeout=30)
        return self.admins[base_url]

    def hub_admin(self) -> httpx.Client:
        """The Hub REST API as the stack's admin service."""
        return self._admin(f"{self.endpoints().hub_url}/hub/api/")

    def quota_admin(self) -> httpx.Client:
        """The quota service's API as the stack's admin service (an admin there)."""
        return self._admin(self.endpoints().quota_api_url)

    def close_clients(self) -> None:
        for client in self.clients:
            client.close()
        self.clients.clear()
        self.admins.clear()

    # --- sign-in and spawns, as a browser does them ---
    def login(self, sub: str) -> httpx.Client:
        """A browser-like client signed in as `sub`."""
        hub_url, oidc = self.endpoints().hub_url, self.endpoints().oidc
        assert oidc is not None, "this stack has no OIDC stand-in"
        client = self._client("", timeout=60)
        resp = oidc.login(client, hub_url, sub)
        me = client.get(f"{hub_url}/hub/api/user")
        if me.status_code != 200:
            raise AssertionError(f"login of {sub} failed: {resp.status_code} {resp.url}")
        return client

    def whoami(self, browser: httpx.Client) -> str:
        resp = browser.get(f"{self.endpoints().hub_url}/hub/api/user")
        resp.raise_for_status()
        return str(resp.json()["name"])

    def _spawn_url(self, browser: httpx.Client, server_name: str) -> str:
        suffix = f"/{server_name}" if server_name else ""
        return f"{self.endpoints().hub_url}/hub/spawn/{self.whoami(browser)}{suffix}"

    def spawn_page(self, browser: httpx.Client, server_name: str = "") -> httpx.Response:
        return browser.get(self._spawn_url(browser, server_name))

    def spawn(
        self, browser: httpx.Client, form: dict[str, str], server_name: str = ""
    ) -> httpx.Response:
        """Post the spawn form as the browser would (with the `_xsrf` token)."""
        url = self._spawn_url(browser, server_name)
        browser.get(url).raise_for_status()
        xsrf = browser.cookies.get("_xsrf", domain="127.0.0.1") or ""
        return browser.post(
            url,
            data={**form, "_xsrf": xsrf},
            follow_redirects=False,
        )

    # --- servers, as the hub sees them ---
    def server(self, user: str, name: str = "") -> dict[str, Any] | None:
        """The hub's model of `user`'s server `name`; None when it has none (or no such user)."""
        resp = self.hub_admin().get(f"users/{user}")
        if resp.status_code == 404:
            return None
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
            raise AssertionError(f"{exc}:\n{self.log_tail()}") from None
        assert server is not None
        return server

    def wait_gone(
        self, user: str, name: str = "", timeout: float = 60, interval: float = 0.2
    ) -> None:
        poll_until(
            lambda: self.server(user, name),
            timeout,
            interval,
            f"{user}/{name} still listed by the hub",
            until=lambda server: server is None,
        )

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

    def open_sessions(self) -> list[dict[str, Any]]:
        resp = self.quota_admin().get("hub/sessions", params={"open": "true"})
        resp.raise_for_status()
        return list(resp.json())
