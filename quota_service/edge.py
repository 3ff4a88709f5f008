"""The HTTP edge: what is refused before any handler runs (docs/api.md "Limits").

- Bodies: a `Content-Length` over the limit is refused at once (413), and a body is counted
  while it streams in, answered with 413 as soon as it passes the limit, so no handler and
  no form or JSON parser ever holds more than the limit. Multipart is refused (415).
- JSON API calls that carry a body are authenticated first, from the header alone: no body of
  an anonymous or refused caller is read.
- Rate limits (429 + Retry-After): per client address, per person or service, per client for
  tokens the hub refused, and for all look-ups of unknown tokens together. The hub's hook and
  jobs tokens are never limited: a refused spawn decision would be a refused spawn.
- `/metrics` is for the scraper: a request that came through a proxy (X-Forwarded-For or
  Forwarded, which JupyterHub's proxy always adds) gets 404.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import (
    SCOPE_JOBS,
    SCOPE_SPAWN,
    HubTokenResolver,
    Identity,
    require_access,
    token_from_header,
)
from .config import Settings
from .error_table import error_response
from .errors import NotAuthenticated, NotFound, QuotaError, UpstreamUnavailable
from .limits import Buckets, Rate, RateLimited, client_address, is_in, networks
from .metrics import ERRORS

log = logging.getLogger("quota_service.edge")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SIGN_IN_MESSAGE = (
    "sign in through JupyterHub, or send a hub API token as 'Authorization: token <token>'"
)
HUB_SCOPES = frozenset({SCOPE_SPAWN, SCOPE_JOBS})


class PayloadTooLarge(QuotaError):
    status_code = 413
    code = "body_too_large"


class UnsupportedMediaType(QuotaError):
    status_code = 415
    code = "unsupported_media_type"


class BodyTooLarge(Exception):
    """Raised into the handler that was reading the body; the 413 is already sent."""


PageError = Callable[[Request, int, str, str], Response]


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        resolver: HubTokenResolver,
        page_error: PageError | None = None,
    ) -> None:
        self.app = app
        self.resolver = resolver
        self.page_error = page_error
        self.service_name = settings.hub_service_name
        lim = settings.limits
        self.prefix = settings.prefix
        self.api_prefix = self.prefix + "api/"
        self.metrics_path = self.prefix + "metrics"
        self.unlimited = {
            self.metrics_path,
            self.prefix + "api/v1/health",
            self.prefix + "api/v1/health/live",
        }
        self.api_body_bytes = lim.api_body_bytes
        self.form_body_bytes = lim.form_body_bytes
        self.trusted = networks(lim.trusted_proxies)
        self.exempt = networks(lim.exempt_clients)

        def buckets(rate: Rate) -> Buckets:
            return Buckets(rate, max_keys=lim.max_tracked_clients, clock=resolver.clock)

        self.per_client = buckets(Rate(lim.per_client.per_minute, lim.per_client.burst))
        self.per_identity = buckets(Rate(lim.per_identity.per_minute, lim.per_identity.burst))
        failed = lim.failed_tokens_per_client
        self.failed_tokens = buckets(Rate(failed.per_minute, failed.burst))
        self.lookups = buckets(Rate(lim.token_lookups.per_minute, lim.token_lookups.burst))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(scope, receive, send)
        try:
            await self._handle(exchange)
        except QuotaError as exc:
            if exchange.started:
                raise
            await self._refuse(exchange, exc)
        except BodyTooLarge:
            pass  # the 413 went out when the body passed the limit
        except Exception:
            if not exchange.answered_by_edge:
                raise
            # The handler failed on the body it was denied after the 413 went out.
            log.debug("handler error after the body limit on %s", scope["path"], exc_info=True)

    async def _handle(self, ex: _Exchange) -> None:
        scope, headers = ex.scope, ex.headers
        path = str(scope["path"])
        is_api = path.startswith(self.api_prefix)
        if path == self.metrics_path and ("x-forwarded-for" in headers or "forwarded" in headers):
            raise NotFound(f"no such endpoint: {scope['method']} {path}")
        limit = self.api_body_bytes if is_api else self.form_body_bytes
        self._check_body_headers(headers, limit)

        peer = (scope.get("client") or ("unknown", 0))[0]
        forwarded = headers.get("x-forwarded-for")
        client = client_address(peer, forwarded, self.trusted)
        # Not through a proxy: the hub, the jobs or the scraper (the NetworkPolicy admits
        # nobody else directly), at an address no one can forge.
        direct = not forwarded or not is_in(peer, self.trusted)
        token = token_from_header(headers.get("authorization"))
        if token is None and not is_api:
            session = scope.get("session")
            value = session.get("token") if isinstance(session, dict) else None
            token = value if isinstance(value, str) and value else None
        exempt = (
            path in self.unlimited
            or is_in(client, self.exempt)
            or (token is not None and self.resolver.is_hub_token(token))
        )
        if not exempt:
            _take(self.per_client, client, "too many requests from your address")
        strict = is_api and scope["method"] in BODY_METHODS and path not in self.unlimited
        if token is not None:
            identity = await self._identify(
                token, client, exempt=exempt, direct=direct, is_api=is_api
            )
            if identity is not None:
                if strict:
                    require_access(identity, self.service_name)
                if not exempt and not (identity.scopes & HUB_SCOPES):
                    key = f"{identity.kind}:{identity.name}"
                    _take(self.per_identity, key, f"too many requests from {identity.actor}")
        elif strict:
            raise NotAuthenticated(SIGN_IN_MESSAGE)
        await self.app(scope, ex.limited_receive(limit, self._too_large), ex.send)

    def _check_body_headers(self, headers: Headers, limit: int) -> None:
        content_type = headers.get("content-type", "").lower()
        if content_type.startswith("multipart/"):
            raise UnsupportedMediaType(
                "multipart bodies are not accepted: send JSON to the API, or a plain "
                "(urlencoded) form to the pages"
            )
        length = headers.get("content-length")
        if length is None:
            return
        if not length.strip().isdigit():
            raise QuotaError("Content-Length is not a number", code="bad_request")
        if int(length) > limit:
            raise _too_large(limit)

    async def _identify(
        self, token: str, client: str, *, exempt: bool, direct: bool, is_api: bool
    ) -> Identity | None:
        """The token's identity, within the look-up limits; pages get None for a refused
        token (the page sends the person to sign in), the API the error.

        The limit on all look-ups together applies to proxied clients only: a flood from
        forged addresses must not keep the hub's own first call (after a restart) out."""
        lookup = self.resolver.needs_lookup(token)
        if lookup and not exempt:
            wait = self.failed_tokens.retry_after(client)
            if wait:
                raise RateLimited(
                    f"too many invalid tokens from your address; retry in {wait} s",
                    retry_after=wait,
                )
            if not direct:
                _take(self.lookups, "all", "too many new tokens to check right now")
        try:
            return await self.resolver.resolve(token)
        except NotAuthenticated:
            if lookup:
                self.failed_tokens.charge(client)
            if is_api:
                raise
            return None
        except UpstreamUnavailable:
            if is_api:
                raise
            return None

    async def _too_large(self, ex: _Exchange, limit: int) -> None:
        await self._refuse(ex, _too_large(limit))

    async def _refuse(self, ex: _Exchange, exc: QuotaError) -> None:
        path = str(ex.scope["path"])
        err = error_response(exc, f"{ex.scope['method']} {path}")
        ERRORS.labels(code=err.code).inc()
        response: Response
        if path.startswith(self.api_prefix) or path == self.metrics_path or not self.page_error:
            response = err.json()
        else:
            request = Request(ex.scope)
            response = self.page_error(request, err.status, err.detail, err.code)
            response.headers.update(err.headers)
        if ex.body_unread:
            # Do not drain what the client still sends: close once this is out.
            response.headers["Connection"] = "close"
        ex.answered_by_edge = True
        await response(ex.scope, ex.receive, ex.raw_send)


def _take(buckets: Buckets, key: str, what: str) -> None:
    wait = buckets.take(key)
    if wait:
        raise RateLimited(f"{what}; retry in {wait} s", retry_after=wait)


def _too_large(limit: int) -> QuotaError:
    return PayloadTooLarge(f"the request body is larger than this service accepts ({limit} bytes)")


class _Exchange:
    """One request's scope and channels, with what the edge has seen of them."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.receive = receive
        self.raw_send = send
        self.headers = Headers(scope=scope)
        self.started = False
        self.answered_by_edge = False
        self.body_unread = scope["method"] in BODY_METHODS or "content-length" in self.headers

    async def send(self, message: Message) -> None:
        if self.answered_by_edge:
            return  # the edge already answered; the handler's reply goes nowhere
        if message["type"] == "http.response.start":
            self.started = True
        await self.raw_send(message)

    def limited_receive(
        self, limit: int, too_large: Callable[[_Exchange, int], Awaitable[None]]
    ) -> Receive:
        received = 0

        async def receive() -> Message:
            nonlocal received
            message = await self.receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if not message.get("more_body", False):
                    self.body_unread = False
                if received > limit:
                    self.body_unread = True
                    if not self.started:
                        await too_large(self, limit)
                    raise BodyTooLarge
            return message

        return receive
