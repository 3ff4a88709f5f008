"""The Hub REST API calls behind team collaboration servers (services/collab.py).

The quota service's own hub token (role `quota-service`, hub_config/services.py) holds
`admin:users`, `servers` and `shares`; this client refuses to use them on anything but a team
user (`team~...`), so those scopes only ever touch team servers.

Members get in through JupyterHub's sharing (JupyterHub >= 5.5.1; the lock has 5.5.4): each
member or lead gets a share of the team user's default server (`access:servers!server=
team~x/`), every other share is revoked. Nobody is ever handed a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from hub_config.collab import is_team_username

from ..hubapi import HubApi, HubApiError, _when


@dataclass(frozen=True)
class ServerState:
    """The team user's default server as the hub reports it."""

    exists: bool  # the hub user exists
    running: bool  # ready, or starting
    ready: bool
    pending: str | None
    url: str | None
    started: datetime | None
    last_activity: datetime | None


@dataclass(frozen=True)
class ShareSync:
    granted: list[str]
    revoked: list[str]


class SpawnRefusedByHub(Exception):
    """The hub refused to start the team server (its spawn decision, say); str: why."""


def _message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:300]
    return str(body.get("message") or body) if isinstance(body, dict) else str(body)[:300]


STOPPED = ServerState(False, False, False, None, None, None, None)


class CollabHub(HubApi):
    """HubApi plus the calls on team users."""

    def _team(self, username: str) -> str:
        if not is_team_username(username):
            raise HubApiError(f"{username!r} is not a team user; refusing to act on it")
        return quote(username, safe="")

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise HubApiError(f"{method} {self.api_url}/{path}: {exc!r}") from exc

    @staticmethod
    def _check(resp: httpx.Response, *ok: int) -> httpx.Response:
        if resp.status_code not in ok and resp.status_code >= 400:
            raise HubApiError(
                f"{resp.request.method} {resp.request.url}: HTTP {resp.status_code} "
                f"{resp.text[:300]}"
            )
        return resp

    def state(self, username: str) -> ServerState:
        resp = self._call("GET", f"users/{self._team(username)}")
        if resp.status_code == 404:
            return STOPPED
        model = self._check(resp).json()
        server = (model.get("servers") or {}).get("")
        if not server:
            return ServerState(True, False, False, None, None, None, None)
        return ServerState(
            exists=True,
            running=True,
            ready=bool(server.get("ready")),
            pending=server.get("pending"),
            url=server.get("url"),
            started=_when(server.get("started")),
            last_activity=_when(server.get("last_activity")),
        )

    def ensure_user(self, username: str) -> None:
        """Create the team user if the hub does not have it yet (409: it raced, fine)."""
        name = self._team(username)
        if self._call("GET", f"users/{name}").status_code != 404:
            return
        self._check(self._call("POST", f"users/{name}", json={"admin": False}), 409)

    def shared_with(self, username: str) -> set[str]:
        """The users the team server is shared with."""
        name = self._team(username)
        found: set[str] = set()
        offset = 0
        while True:
            resp = self._check(
                self._call(
                    "GET",
                    f"shares/{name}/",
                    params={"offset": offset, "limit": self.page_size},
                    headers={"Accept": "application/jupyterhub-pagination+json"},
                )
            )
            body = resp.json()
            items = body["items"] if isinstance(body, dict) else body
            found.update(str(s["user"]["name"]) for s in items if s.get("user"))
            nxt = (body.get("_pagination") or {}).get("next") if isinstance(body, dict) else None
            if not nxt:
                return found
            offset = int(nxt["offset"])

    def sync_shares(self, username: str, members: set[str]) -> ShareSync:
        """Share the team server with exactly `members`: grant the missing, revoke the rest.
        A member the hub does not know yet (never signed in) is skipped; the next sync (each
        start, and each reconcile run) grants them."""
        name = self._team(username)
        current = self.shared_with(username)
        granted, revoked = [], []
        for member in sorted(members - current):
            resp = self._call("POST", f"shares/{name}/", json={"user": member})
            if resp.status_code == 400 and "No such user" in resp.text:
                continue
            self._check(resp)
            granted.append(member)
        for other in sorted(current - members):
            self._check(self._call("PATCH", f"shares/{name}/", json={"user": other}))
            revoked.append(other)
        return ShareSync(granted, revoked)

    def start(self, username: str, size: str, allocation_id: int) -> None:
        """Start the team server at `size`, charged to `allocation_id` (the pool); the hub's
        spawn hook asks this service for the decision. 400 "already running" is fine."""
        resp = self._call(
            "POST",
            f"users/{self._team(username)}/server",
            json={"profile": size, "allocation": str(allocation_id)},
        )
        if resp.status_code == 400 and "already running" in resp.text:
            return
        if resp.status_code in (400, 403):
            raise SpawnRefusedByHub(_message(resp))
        self._check(resp)

    def stop(self, username: str) -> None:
        resp = self._call("DELETE", f"users/{self._team(username)}/server")
        if resp.status_code == 400 and "not running" in resp.text:
            return
        self._check(resp)
