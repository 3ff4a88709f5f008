"""Encrypted session cookies for the pages, and the CSRF token that lives in them.

The session is a small JSON object sealed with Fernet (AES-128-CBC + HMAC-SHA256, stamped with
its issue time), under a key derived from `session_secret`; a cookie that does not decrypt and
verify, or that is older than `max_age`, is ignored. It holds the person's hub OAuth access
token (`token`), which `handlers.deps.get_identity` reads from `scope["session"]`, so the
token is never readable from the cookie, and the CSRF token every form carries.

`Secure` comes from the `cookie_secure` setting (`Settings.secure_cookies`), never from a
request header such as X-Forwarded-Proto, which any client can send.

The OAuth `state` cookie stays signed (`Signer`): it holds nothing secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
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


class SessionCipher:
    """Seals small JSON payloads (encrypted and authenticated); `loads` returns None for
    anything that does not open, has expired, or is not a JSON object."""

    def __init__(self, secret: bytes) -> None:
        key = hmac.new(secret, b"nexus-quota session cookie", hashlib.sha256).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def dumps(self, payload: dict[str, Any], *, now: float | None = None) -> str:
        body = json.dumps(payload, separators=(",", ":")).encode()
        when = int(time.time() if now is None else now)
        return self._fernet.encrypt_at_time(body, when).decode("ascii")

    def loads(
        self, value: str, *, max_age: float, now: float | None = None
    ) -> dict[str, Any] | None:
        current = int(time.time() if now is None else now)
        try:
            body = self._fernet.decrypt_at_time(value.encode("ascii"), int(max_age), current)
            data = json.loads(body)
        except (InvalidToken, UnicodeEncodeError, ValueError):
            return None
        return data if isinstance(data, dict) else None


def secure_cookies(conn: HTTPConnection) -> bool:
    """The service's setting, never a client header (see the module's docstring)."""
    return bool(conn.app.state.settings.secure_cookies)


def cookie_header(name: str, value: str, *, path: str, max_age: int, secure: bool) -> str:
    parts = [f"{name}={value}", f"Path={path}", f"Max-Age={max_age}", "HttpOnly", "SameSite=Lax"]
    if max_age <= 0:
        parts.append("Expires=Thu, 01 Jan 1970 00:00:00 GMT")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


class EncryptedSessionMiddleware:
    """Puts a dict at `scope["session"]`; writes the cookie back only when it changed."""

    def __init__(self, app: ASGIApp, *, secret: bytes, path: str, max_age: int = 12 * 3600) -> None:
        self.app = app
        self.signer = SessionCipher(secret)
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
                    secure = secure_cookies(conn)
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


# The name web/__init__.py installs it by.
SignedSessionMiddleware = EncryptedSessionMiddleware


def session_of(request: Request) -> dict[str, Any]:
    session = request.scope.get("session")
    if not isinstance(session, dict):
        raise RuntimeError("EncryptedSessionMiddleware is not installed")
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
