"""The hub's own small HTTP client of the quota service (docs/api.md, the `hub/` endpoints).

Response models here are the hub's view of the API: they ignore fields they do not use, so
the service can grow without breaking the hub. Every transport failure and every 5xx answer
becomes one exception, `QuotaUnavailable`, which the fail mode setting then handles.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from .names import QUOTA_PREFIX


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Toleration(_Model):
    key: str
    operator: str = "Equal"
    value: str | None = None
    effect: str | None = None


class Size(_Model):
    name: str
    display_name: str
    description: str = ""
    cpu_limit: float
    cpu_guarantee: float
    mem_limit_bytes: int
    mem_guarantee_bytes: int
    cpu_hours_per_hour: float
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    allocation_ids: list[int] = Field(default_factory=list)


class Allocation(_Model):
    id: int
    tier: str
    kind: str = "personal"
    status: str = "active"
    label: str
    consortium: str | None = None
    consortium_id: int | None = None
    cpu_hours_budget: float | None = None
    cpu_hours_used: float = 0.0
    cpu_hours_left: float | None = None
    resets_at: datetime | None = None
    ends_at: datetime | None = None
    max_concurrent_servers: int = 1
    running_servers: int = 0
    sizes: list[str] = Field(default_factory=list)


class Storage(_Model):
    home_bytes: int = 0
    scratch_bytes: int = 0
    soft_quota_bytes: int | None = None
    hard_quota_bytes: int | None = None
    over_soft: bool = False
    over_hard: bool = False


class Release(_Model):
    """An environment release the spawn form offers: its user image and kernel locks."""

    id: str
    display_name: str
    description: str = ""
    image: str
    kernel_locks: list[str] = Field(default_factory=list)
    current: bool = False


class Entitlements(_Model):
    username: str
    tier: str
    cleanup_mode: bool = False
    notices: list[str] = Field(default_factory=list)
    allocations: list[Allocation] = Field(default_factory=list)
    sizes: list[Size] = Field(default_factory=list)
    storage: Storage = Field(default_factory=Storage)
    upgrade_url: str = QUOTA_PREFIX + "requests/new"
    releases: list[Release] = Field(default_factory=list)

    def allocation(self, allocation_id: int) -> Allocation | None:
        return next((a for a in self.allocations if a.id == allocation_id), None)


class RestoreStatus(_Model):
    """A restore of the person's archived home that the decision started (docs/storage.md)."""

    id: str
    state: Literal["running", "restored", "failed"]
    message: str
    files: int = 0


class Team(_Model):
    """A team the person belongs to: its folder name (`/teams/<team_dir>`) and POSIX group."""

    name: str
    team_dir: str
    gid: int


class SpawnAllowed(_Model):
    allowed: Literal[True]
    session_id: int
    cleanup_mode: bool = False
    notice: str | None = None
    tier: str
    allocation_id: int
    allocation_label: str
    size: Size
    cpu_hours_left: float | None = None
    idle_cull_hours: float | None = None
    max_session_hours: float | None = None
    home_quota_soft_bytes: int | None = None
    home_quota_hard_bytes: int | None = None
    scratch_retention_days: int | None = None
    restore: RestoreStatus | None = None
    release: Release | None = None
    # The person's POSIX uid and all their teams; None from a service older than team folders.
    uid: int | None = None
    teams: list[Team] = Field(default_factory=list)

    @property
    def home_soft_bytes(self) -> int | None:
        return self.home_quota_soft_bytes

    @property
    def home_hard_bytes(self) -> int | None:
        return self.home_quota_hard_bytes


class SpawnDenied(_Model):
    allowed: Literal[False]
    code: str
    message: str
    limit: float | None = None
    used: float | None = None
    resets_at: datetime | None = None
    upgrade_url: str | None = None


SpawnDecision = SpawnAllowed | SpawnDenied
_decision_adapter: TypeAdapter[SpawnDecision] = TypeAdapter(SpawnDecision)


class ClosedSession(_Model):
    session_id: int
    cpu_hours: float


class StopResult(_Model):
    closed: list[ClosedSession] = Field(default_factory=list)


class RunningServer(_Model):
    """One open session of the person's (default server "" or named), with its cost so far."""

    server_name: str
    size: str
    size_display_name: str
    cpu_hours_per_hour: float
    allocation_id: int
    allocation_label: str
    tier: str
    started_at: datetime
    cleanup_mode: bool = False
    cpu_hours_charged: float = 0.0
    cpu_hours_so_far: float = 0.0


class RunningServers(_Model):
    username: str
    as_of: datetime
    servers: list[RunningServer] = Field(default_factory=list)


class QuotaUnavailable(Exception):
    """The quota service could not be reached or failed (transport error, 5xx, bad body)."""


class QuotaRequestError(Exception):
    """The quota service refused the request itself (4xx): `code` and `detail` from its body."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"quota service answered {status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


# Below uvicorn's default keep-alive timeout (5 s), which `nexus-quota serve` keeps.
KEEPALIVE_SECONDS = 2.0


class QuotaClient:
    """Async client of the quota service's `hub/` API with one shared connection pool."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not base_url.endswith("/"):
            base_url += "/"
        self.base_url = base_url
        # Called with every entitlements answer (the home page's standing board).
        self.on_entitlements: Callable[[Entitlements], None] | None = None
        self._http = httpx.AsyncClient(
            base_url=base_url + "api/v1/",
            headers={"Authorization": f"token {token}"},
            timeout=timeout,
            transport=transport,
            # Idle connections close here before the service's side closes them (uvicorn's
            # keep-alive is 5 s, httpx's default too): otherwise a request sent on a
            # connection the service is closing fails as "disconnected" (bench/hub_load.py
            # saw 503 spawn refusals from this at 60 people).
            limits=httpx.Limits(keepalive_expiry=KEEPALIVE_SECONDS),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            resp = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise QuotaUnavailable(f"{method} {self.base_url}api/v1/{path}: {exc!r}") from exc
        if resp.status_code >= 500:
            raise QuotaUnavailable(
                f"{method} {self.base_url}api/v1/{path}: HTTP {resp.status_code} {resp.text[:200]}"
            )
        try:
            body = resp.json()
        except ValueError as exc:
            raise QuotaUnavailable(
                f"{method} {path}: HTTP {resp.status_code} with a body that is not JSON"
            ) from exc
        if resp.status_code >= 400:
            detail = body.get("detail") if isinstance(body, dict) else None
            code = body.get("code") if isinstance(body, dict) else None
            raise QuotaRequestError(
                resp.status_code, str(code or resp.status_code), str(detail or resp.text[:200])
            )
        return body

    async def entitlements(self, username: str) -> Entitlements:
        body = await self._request("GET", f"hub/users/{quote(username, safe='')}/entitlements")
        ent = _parse(Entitlements, body)
        if self.on_entitlements is not None:
            self.on_entitlements(ent)
        return ent

    async def spawn_decision(
        self,
        username: str,
        server_name: str,
        size: str,
        allocation_id: int | None,
        release: str | None = None,
    ) -> SpawnDecision:
        payload: dict[str, Any] = {"username": username, "server_name": server_name, "size": size}
        if allocation_id is not None:
            payload["allocation_id"] = allocation_id
        if release is not None:
            payload["release"] = release
        body = await self._request("POST", "hub/spawn-decisions", json=payload)
        try:
            return _decision_adapter.validate_python(body)
        except ValidationError as exc:
            raise QuotaUnavailable(f"unexpected spawn decision body: {exc}") from exc

    async def running_servers(self, username: str) -> RunningServers:
        body = await self._request("GET", f"hub/users/{quote(username, safe='')}/servers")
        return _parse(RunningServers, body)

    async def restore_status(self, username: str) -> RestoreStatus:
        body = await self._request("GET", f"hub/users/{quote(username, safe='')}/restore")
        return _parse(RestoreStatus, body)

    async def stop_sessions(self, username: str, server_name: str) -> StopResult:
        body = await self._request(
            "POST", "hub/sessions/stop", json={"username": username, "server_name": server_name}
        )
        return _parse(StopResult, body)


M = TypeVar("M", bound=BaseModel)


def _parse(model: type[M], body: Any) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise QuotaUnavailable(f"unexpected {model.__name__} body: {exc}") from exc
