"""Who is calling: JupyterHub API tokens, resolved by asking the hub, with a short cache.

Rights come from the presented token's scopes as the hub reports them (`GET /hub/api/user`
returns `scopes` for the token), never from the account alone: a hub admin's notebook-server
token, or any token narrowed to a few scopes, is not a quota admin.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import httpx

from .errors import NotAuthenticated, PermissionDenied, UpstreamUnavailable

# Re-exported: handlers and the edge import the scopes from here.
from .names import SCOPE_ADMIN as SCOPE_ADMIN
from .names import SCOPE_JOBS as SCOPE_JOBS
from .names import SCOPE_PREFIX as CUSTOM_PREFIX
from .names import SCOPE_SPAWN as SCOPE_SPAWN
from .names import SERVICE_NAME as DEFAULT_SERVICE_NAME

log = logging.getLogger(__name__)


def access_scope(service_name: str = DEFAULT_SERVICE_NAME) -> str:
    return f"access:services!service={service_name}"


@dataclass(frozen=True)
class Identity:
    name: str
    kind: str  # "user" or "service"
    admin: bool = False
    groups: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_user(self) -> bool:
        return self.kind == "user"

    @property
    def is_admin(self) -> bool:
        # The hub's admin flag (`admin`) alone is not enough: the token must carry the scope.
        return SCOPE_ADMIN in self.scopes

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def may_access(self, service_name: str = DEFAULT_SERVICE_NAME) -> bool:
        """Was this token issued for this service? The hub's access scope (as HubAuth checks
        it), or one of this service's own custom scopes, which no other service uses."""
        return (
            "access:services" in self.scopes
            or access_scope(service_name) in self.scopes
            or any(s.startswith(CUSTOM_PREFIX) for s in self.scopes)
        )

    @property
    def actor(self) -> str:
        return self.name if self.is_user else f"service:{self.name}"


def token_from_header(value: str | None) -> str | None:
    if not value:
        return None
    parts = value.strip().split(None, 1)
    if len(parts) != 2 or parts[0].lower() not in ("token", "bearer"):
        return None
    return parts[1].strip() or None


class HubTokenResolver:
    """Resolves tokens through `GET <hub_api_url>/user`, caching answers for a few seconds.

    Concurrent requests with the same uncached token share one look-up, and an entry in the
    last quarter of its life is refreshed in the background while it keeps being served: the
    hub's hook uses one token for every spawn, and an expiry must not stall them all.
    """

    def __init__(
        self,
        hub_api_url: str,
        *,
        cache_seconds: float = 30.0,
        negative_cache_seconds: float = 60.0,
        max_entries: int = 10_000,
        client: httpx.AsyncClient | None = None,
        admin_groups: frozenset[str] = frozenset(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.hub_api_url = hub_api_url.rstrip("/")
        self.cache_seconds = cache_seconds
        self.refresh_ahead_seconds = cache_seconds / 4
        self.max_entries = max_entries
        self.admin_groups = admin_groups
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0))
        self._cache: OrderedDict[str, tuple[float, Identity]] = OrderedDict()
        # Tokens the hub refused, until when: a flood of bad tokens must not become a flood
        # of hub round trips (bounded like the positive cache).
        self.negative_cache_seconds = negative_cache_seconds
        self._refused: OrderedDict[str, float] = OrderedDict()
        # Tokens last seen carrying the hook's or the jobs' scope: never rate-limited.
        self._hub_tokens: OrderedDict[str, None] = OrderedDict()
        self._lookups: dict[str, asyncio.Task[Identity]] = {}

    async def aclose(self) -> None:
        for task in list(self._lookups.values()):
            task.cancel()
        await self._client.aclose()

    def needs_lookup(self, token: str) -> bool:
        """Would `resolve` ask the hub (no live answer cached, good or bad)?"""
        key = _key(token)
        now = self.clock()
        hit = self._cache.get(key)
        refused = self._refused.get(key)
        return (hit is None or hit[0] <= now) and (refused is None or refused <= now)

    def is_hub_token(self, token: str) -> bool:
        """Did this token, when last resolved, carry the spawn hook's or the jobs' scope?"""
        return _key(token) in self._hub_tokens

    async def resolve(self, token: str) -> Identity:
        key = _key(token)
        now = self.clock()
        refused = self._refused.get(key)
        if refused is not None:
            if refused > now:
                raise NotAuthenticated(REFUSED_MESSAGE)
            del self._refused[key]
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            if hit[0] - now < self.refresh_ahead_seconds and key not in self._lookups:
                self._start_lookup(key, token).add_done_callback(_log_refresh_failure)
            return hit[1]
        task = self._lookups.get(key) or self._start_lookup(key, token)
        # shield: one caller giving up (its client went away) must not cancel the others' wait.
        return await asyncio.shield(task)

    def forget(self, token: str) -> None:
        """Drop a token's cached identity (at sign-out: it must not be trusted any longer)."""
        self._cache.pop(_key(token), None)

    def _start_lookup(self, key: str, token: str) -> asyncio.Task[Identity]:
        task = asyncio.create_task(self._look_up(key, token))
        self._lookups[key] = task
        task.add_done_callback(lambda _: self._lookups.pop(key, None))
        return task

    async def _look_up(self, key: str, token: str) -> Identity:
        try:
            resp = await self._client.get(
                f"{self.hub_api_url}/user", headers={"Authorization": f"token {token}"}
            )
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(
                f"cannot reach JupyterHub to check the token ({type(exc).__name__}); try again"
            ) from None
        if resp.status_code in (401, 403, 404):
            self._cache.pop(key, None)
            self._hub_tokens.pop(key, None)
            if self.negative_cache_seconds > 0:
                _remember(self._refused, key, self.clock() + self.negative_cache_seconds)
                while len(self._refused) > self.max_entries:
                    self._refused.popitem(last=False)
            raise NotAuthenticated(REFUSED_MESSAGE)
        if resp.status_code != 200:
            raise UpstreamUnavailable(f"JupyterHub answered {resp.status_code} checking the token")
        model = resp.json()
        groups = frozenset(model.get("groups") or [])
        identity = Identity(
            name=str(model.get("name")),
            kind=str(model.get("kind", "user")),
            admin=bool(model.get("admin")) or bool(groups & self.admin_groups),
            groups=groups,
            scopes=frozenset(model.get("scopes") or []),
        )
        self._cache[key] = (self.clock() + self.cache_seconds, identity)
        self._cache.move_to_end(key)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        if identity.scopes & {SCOPE_SPAWN, SCOPE_JOBS}:
            _remember(self._hub_tokens, key, None)
            while len(self._hub_tokens) > 64:
                self._hub_tokens.popitem(last=False)
        else:
            self._hub_tokens.pop(key, None)
        return identity


REFUSED_MESSAGE = "the API token is not valid (expired or revoked?)"


V = TypeVar("V")


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _remember(table: OrderedDict[str, V], key: str, value: V) -> None:
    table[key] = value
    table.move_to_end(key)


def _log_refresh_failure(task: asyncio.Task[Identity]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("refreshing a cached token failed: %s", task.exception())


def require_access(identity: Identity, service_name: str = DEFAULT_SERVICE_NAME) -> Identity:
    if not identity.may_access(service_name):
        raise PermissionDenied(
            f"this token lacks the scope {access_scope(service_name)}: it was issued for "
            "something else (another service, a notebook server, or narrower scopes)"
        )
    return identity


def require_user(identity: Identity) -> Identity:
    if not identity.is_user:
        raise PermissionDenied("this endpoint is for people; use a user's token")
    return identity


def require_admin(identity: Identity) -> Identity:
    if not identity.is_admin:
        raise PermissionDenied(
            f"this needs the scope {SCOPE_ADMIN}, which the hub's quota-admin role grants; "
            "this token does not carry it"
        )
    return identity


def require_scope(identity: Identity, *scopes: str) -> Identity:
    if identity.is_admin or any(identity.has_scope(s) for s in scopes):
        return identity
    raise PermissionDenied(f"this token lacks the scope {' or '.join(scopes)}")
