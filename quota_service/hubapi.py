"""A small client of the JupyterHub REST API, for jobs (the reconciler).

Scopes the token needs: `list:users`, `read:users:name`, `read:users:activity`,
`read:servers` (to list running servers) and `delete:servers` (to stop one).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

PAGINATION = "application/jupyterhub-pagination+json"


class HubApiError(Exception):
    """The hub could not be reached, or refused the request."""


@dataclass(frozen=True)
class HubServer:
    """One server the hub knows about (running, starting or stopping)."""

    username: str
    name: str
    ready: bool
    pending: str | None
    started: datetime | None
    last_activity: datetime | None

    @property
    def key(self) -> tuple[str, str]:
        return (self.username, self.name)


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class HubApi:
    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        page_size: int = 200,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.page_size = page_size
        self._http = httpx.Client(
            base_url=self.api_url + "/",
            headers={"Authorization": f"token {token}"},
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HubApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            resp = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise HubApiError(f"{method} {self.api_url}/{path}: {exc!r}") from exc
        if resp.status_code >= 400:
            raise HubApiError(
                f"{method} {self.api_url}/{path}: HTTP {resp.status_code} {resp.text[:300]}"
            )
        return resp

    def users(self) -> Iterator[dict[str, Any]]:
        """Every user with at least one active server, page by page."""
        offset = 0
        while True:
            resp = self._request(
                "GET",
                "users",
                params={"state": "active", "offset": offset, "limit": self.page_size},
                headers={"Accept": PAGINATION},
            )
            body = resp.json()
            items = body["items"] if isinstance(body, dict) else body
            yield from items
            if not isinstance(body, dict):
                return
            nxt = (body.get("_pagination") or {}).get("next")
            if not nxt:
                return
            offset = int(nxt["offset"])

    def servers(self) -> list[HubServer]:
        """All servers the hub is running or starting."""
        found = []
        for user in self.users():
            for name, server in (user.get("servers") or {}).items():
                found.append(
                    HubServer(
                        username=str(user["name"]),
                        name=str(name),
                        ready=bool(server.get("ready")),
                        pending=server.get("pending"),
                        started=_when(server.get("started")),
                        last_activity=_when(server.get("last_activity")),
                    )
                )
        return found

    def stop_server(self, username: str, server_name: str) -> None:
        """Ask the hub to stop a server (202 while stopping is fine)."""
        user = quote(username, safe="")
        if server_name:
            path = f"users/{user}/servers/{quote(server_name, safe='')}"
        else:
            path = f"users/{user}/server"
        self._request("DELETE", path)
