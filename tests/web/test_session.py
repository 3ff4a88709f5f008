"""Issue 15 item 15 (session hygiene) and the pages' share of item 4 (scopes), through a real
sign-in: a browser-like client logs in to the hub, signs in to the quota pages with the hub's
OAuth, and signs out again."""

from __future__ import annotations

import base64
import binascii
import re
import uuid

import httpx
import pytest
from fastapi.testclient import TestClient

from quota_service.app import create_app
from quota_service.config import Settings
from quota_service.web.session import SESSION_COOKIE, SessionCipher, Signer
from tests.support.quota_tokens import ADMIN_GROUP, ensure_user

from .stack import WebStack, csrf_of

pytestmark = pytest.mark.integration


def browser(stack: WebStack, username: str, **headers: str) -> httpx.Client:
    """A client signed in to the hub (dummy authenticator) and then to the quota pages."""
    client = httpx.Client(base_url=stack.hub.url, timeout=30.0, headers=headers)
    form = client.get("/hub/login")
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form.text)
    assert xsrf, form.text[:500]
    signed_in = client.post(
        "/hub/login", data={"username": username, "password": "pw", "_xsrf": xsrf.group(1)}
    )
    assert signed_in.status_code == 302, signed_in.text[:500]
    page = client.get("/services/quota/", follow_redirects=True)
    assert page.status_code == 200, page.text[:500]
    assert str(page.url).endswith("/services/quota/")
    return client


def oauth_tokens(stack: WebStack, username: str) -> list[dict[str, object]]:
    with stack.hub.api(stack.admin_service_token) as hub:
        tokens = hub.get(f"users/{username}/tokens").json()["api_tokens"]
    return [t for t in tokens if t.get("oauth_client") and "quota" in str(t["oauth_client"])]


def decodable_parts(value: str) -> list[bytes]:
    parts = []
    for part in re.split(r"[.]", value):
        try:
            parts.append(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        except (binascii.Error, ValueError):
            continue
    return parts


def test_the_cookie_hides_the_token_and_sign_out_revokes_it(web_stack: WebStack) -> None:
    user = f"sess-{uuid.uuid4().hex[:8]}"
    client = browser(web_stack, user)
    cookie = client.cookies.get(SESSION_COOKIE, path="/services/quota/")
    assert cookie
    for part in decodable_parts(cookie):
        assert b'"token"' not in part and b'"user"' not in part
    (issued,) = oauth_tokens(web_stack, user)
    page = client.get("/services/quota/")
    signed_out = client.post(
        "/services/quota/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == "/hub/logout"
    client.get("/hub/logout")
    # The hub deleted the OAuth token: a copy of the old cookie is worth nothing.
    assert oauth_tokens(web_stack, user) == [], issued
    replay = httpx.Client(base_url=web_stack.pages_url, timeout=30.0)
    replay.cookies.set(SESSION_COOKIE, cookie, path="/services/quota/")
    resp = replay.get("")
    assert resp.status_code == 302 and "/services/quota/login" in resp.headers["location"]


def test_admin_pages_follow_the_sign_in_tokens_scope(web_stack: WebStack) -> None:
    admin, flag_only = f"qadm-{uuid.uuid4().hex[:6]}", f"flag-{uuid.uuid4().hex[:6]}"
    ensure_user(web_stack, admin, admin=True)
    ensure_user(web_stack, flag_only, admin=True)
    with web_stack.hub.api(web_stack.admin_service_token) as hub:
        hub.post(f"groups/{ADMIN_GROUP}/users", json={"users": [admin]}).raise_for_status()
    console = browser(web_stack, admin).get("/services/quota/admin")
    assert console.status_code == 200 and "Pending requests" in console.text
    refused = browser(web_stack, flag_only).get("/services/quota/admin")
    assert refused.status_code == 403
    assert "custom:nexus-quota:admin" in refused.text


def test_secure_does_not_follow_a_client_header(web_stack: WebStack) -> None:
    # The test service listens on loopback only: plain-http local dev, so no Secure flag,
    # whatever X-Forwarded-Proto a client sends.
    client = httpx.Client(base_url=web_stack.pages_url, timeout=30.0)
    resp = client.get("login", headers={"X-Forwarded-Proto": "https"})
    assert resp.status_code == 302
    assert "Secure" not in resp.headers["set-cookie"]


@pytest.mark.parametrize(
    ("settings", "secure"),
    [
        ({"bind_host": "0.0.0.0"}, True),
        ({"bind_host": "127.0.0.1"}, False),
        ({"bind_host": "127.0.0.1", "cookie_secure": True}, True),
        ({"bind_host": "0.0.0.0", "cookie_secure": False}, False),
    ],
)
def test_secure_comes_from_the_setting(settings: dict[str, object], secure: bool) -> None:
    app = create_app(
        Settings(database_url="sqlite://", fail_on_stale_schema=False, **settings)  # type: ignore[arg-type]
    )
    for proto in ("http", "https"):
        resp = TestClient(app).get(
            "/services/quota/login", headers={"X-Forwarded-Proto": proto}, follow_redirects=False
        )
        assert resp.status_code == 302
        assert ("Secure" in resp.headers["set-cookie"]) is secure


def test_session_cipher_refuses_tampered_expired_and_signed_only_values() -> None:
    cipher = SessionCipher(b"s" * 32)
    sealed = cipher.dumps({"token": "secret-token", "csrf": "x" * 20}, now=1000)
    assert b"secret-token" not in sealed.encode()
    assert cipher.loads(sealed, max_age=60, now=1030) == {"token": "secret-token", "csrf": "x" * 20}
    assert cipher.loads(sealed, max_age=60, now=1100) is None
    assert SessionCipher(b"t" * 32).loads(sealed, max_age=60, now=1030) is None
    assert cipher.loads(sealed[:-4] + "AAAA", max_age=60, now=1030) is None
    assert cipher.loads("ünïcode", max_age=60, now=1030) is None
    signed_only = Signer(b"s" * 32, purpose="session").dumps({"token": "t"}, now=1000)
    assert cipher.loads(signed_only, max_age=60, now=1030) is None
