"""Signed session cookies for the pages, and the CSRF token that lives in them.

The session is a small JSON object, signed with HMAC-SHA256 and stamped with its issue time;
a cookie whose signature does not verify, or that is older than `max_age`, is ignored. It holds
the person's hub OAuth access token (`token`), which `handlers.deps.get_identity` reads from
`scope["session"]`, and the CSRF token every form carries. Signed, not encrypted: it is
HttpOnly, scoped to the service's path, and only ever sent back to this service.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "nexus-quota-session"
CSRF_FIELD = "csrf_token"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signs small JSON payloads with a timestamp; `loads` returns None for anything suspect."""

    def __init__(self, secret: bytes, *, purpose: str) -> None:
        self._key = hmac.new(secret, purpose.encode(), hashlib.sha256).digest()

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest())

    def dumps(self, payload: dict[str, Any], *, now: float | None = None) -> str:
        stamp = int(time.time() if now is None else now)
        body = _b64(json.dumps({"t": stamp, "d": payload}, separators=(",", ":")).encode())
        return f"{body}.{self._mac(body)}"

    def loads(
        self, value: str, *, max_age: float, now: float | None = None
    ) -> dict[str, Any] | None:
        body, _, mac = value.partition(".")
        if not body or not mac or not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            data = json.loads(_unb64(body))
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("d"), dict):
            return None
        issued = data.get("t")
        current = time.time() if now is None else now
        if not isinstance(issued, int) or current - issued > max_age or issued > current + 60:
            return None
        payload: dict[str, Any] = data["d"]
        return payload


def is_https(conn: HTTPConnection) -> bool:
    proto = conn.headers.get("x-forwarded-proto", conn.url.scheme)
    return proto.split(",")[0].strip().lower() == "https"


def cookie_header(name: str, value: str, *, path: str, max_age: int, secure: bool) -> str:
    parts = [f"{name}={value}", f"Path={path}", f"Max-Age={max_age}", "HttpOnly", "SameSite=Lax"]
    if max_age <= 0:
        parts.append("Expires=Thu, 01 Jan 1970 00:00:00 GMT")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


class SignedSessionMiddleware:
    """Puts a dict at `scope["session"]`; writes the cookie back only when it changed."""

    def __init__(self, app: ASGIApp, *, secret: bytes, path: str, max_age: int = 12 * 3600) -> None:
        self.app = app
        self.signer = Signer(secret, purpose="session")
        self.path = path
        self.max_age = max_age

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        raw = conn.cookies.get(SESSION_COOKIE)
        initial = self.signer.loads(raw, max_age=self.max_age) if raw else None
        scope["session"] = dict(initial or {})

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                session = scope["session"]
                if session != (initial or {}):
                    headers = MutableHeaders(scope=message)
                    secure = is_https(conn)
                    if session:
                        value = self.signer.dumps(session)
                        headers.append(
                            "Set-Cookie",
                            cookie_header(
                                SESSION_COOKIE,
                                value,
                                path=self.path,
                                max_age=self.max_age,
                                secure=secure,
                            ),
                        )
                    else:
                        headers.append(
                            "Set-Cookie",
                            cookie_header(
                                SESSION_COOKIE, "", path=self.path, max_age=0, secure=secure
                            ),
                        )
            await send(message)

        await self.app(scope, receive, send_wrapper)


def session_of(request: Request) -> dict[str, Any]:
    session = request.scope.get("session")
    if not isinstance(session, dict):
        raise RuntimeError("SignedSessionMiddleware is not installed")
    return session


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    session = session_of(request)
    token = session.get("csrf")
    if not isinstance(token, str) or len(token) < 16:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def csrf_ok(request: Request, submitted: object) -> bool:
    expected = session_of(request).get("csrf")
    return (
        isinstance(expected, str)
        and isinstance(submitted, str)
        and len(expected) >= 16
        and hmac.compare_digest(expected.encode(), submitted.encode())
    )
