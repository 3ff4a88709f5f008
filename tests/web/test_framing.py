"""Issue 15 item 3, where user servers share the pages' origin (no subdomain_host).

The pages refuse every frame, and an admin change made by a browser signed in with the session
cookie needs a confirmation that a script on the origin cannot give (quota_service/web/
confirm.py): the real hub and quota service on SQLite and PostgreSQL, signed in through the
hub's OAuth like a browser. The Sec-Fetch-* headers sent here are the ones a browser sends for
each kind of request; a script cannot set them (forbidden header names).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from quota_service.web import confirm
from tests.support.databases import BACKENDS, DatabaseFactory
from tests.support.processes import TEST_OUTPUT
from tests.support.quota import PREFIX
from tests.support.quota_tokens import quota_admin_token

from .stack import WebStack, csrf_of, start_web_stack

pytestmark = pytest.mark.integration

SCRIPT_FETCH = {
    "Sec-Fetch-Mode": "cors",
    "Sec-Fetch-Dest": "empty",
    "Sec-Fetch-Site": "same-origin",
}
IN_A_FRAME = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe"}
SCRIPTED_SUBMIT = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
CLICK = {**SCRIPTED_SUBMIT, "Sec-Fetch-User": "?1"}
NONCE_RE = re.compile(r'name="confirmation" value="([^"]+)"')


@pytest.fixture(scope="module", params=BACKENDS)
def stack(request: pytest.FixtureRequest, databases: DatabaseFactory) -> Iterator[WebStack]:
    backend = str(request.param)
    s = start_web_stack(TEST_OUTPUT / f"web-framing-{backend}", databases.new(backend))
    try:
        yield s
    finally:
        s.stop()


def _signed_in(stack: WebStack, username: str) -> httpx.Client:
    """A browser-like client with the pages' session cookie, through the hub's OAuth."""
    client = httpx.Client(base_url=stack.hub.url, timeout=30, follow_redirects=True)
    login = client.get(PREFIX)
    assert "/hub/login" in str(login.url), login.url
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', login.text)
    assert xsrf, "the hub's login form has no _xsrf field"
    landed = client.post(
        str(login.url), data={"username": username, "password": "x", "_xsrf": xsrf.group(1)}
    )
    assert landed.status_code == 200 and landed.url.path == PREFIX, (landed.url, landed.text)
    client.follow_redirects = False
    return client


def _research_allocation(stack: WebStack, admin_token: str) -> tuple[str, int]:
    person = f"ivan{secrets.token_hex(3)}"
    stack.user_token(person)
    with stack.api(admin_token) as api:
        granted = api.post(
            "admin/allocations", json={"username": person, "tier": "research", "reason": "pilot"}
        )
        assert granted.status_code == 201, granted.text
        return person, int(granted.json()["id"])


def _status(stack: WebStack, admin_token: str, person: str, allocation_id: int) -> str:
    with stack.api(admin_token) as api:
        found = api.get(f"admin/users/{person}")
    assert found.status_code == 200, found.text
    (alloc,) = [a for a in found.json()["allocations"] if a["id"] == allocation_id]
    return str(alloc["status"])


def _assert_unframeable(resp: httpx.Response) -> None:
    csp = resp.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp, (resp.request.url, csp)
    assert resp.headers.get("x-frame-options") == "DENY", resp.request.url


def test_every_page_response_refuses_frames(stack: WebStack) -> None:
    with httpx.Client(base_url=stack.public_pages_url, timeout=30) as anon:
        responses = [
            anon.get(""),  # signed out: a redirect to sign in
            anon.get("login"),  # a redirect to the hub
            anon.get("no/such/page"),
        ]
    with stack.pages(stack.user_token("frank")) as frank:
        responses += [
            frank.get(""),
            frank.get("admin"),  # 403 page
            frank.post("requests/new", data={"tier": "research"}),  # CSRF refused
            frank.get("no/such/page"),
        ]
    assert {r.status_code for r in responses} >= {200, 302, 403, 404}
    for resp in responses:
        _assert_unframeable(resp)


def test_a_session_admin_change_needs_a_fresh_click_on_its_own_page(stack: WebStack) -> None:
    admin_token = quota_admin_token(stack, "root")
    person, alloc = _research_allocation(stack, admin_token)
    revoke = f"{PREFIX}admin/allocations/{alloc}/revoke"
    browser = _signed_in(stack, "root")
    try:
        csrf = csrf_of(browser.get(f"{PREFIX}admin").text)
        form = {"csrf_token": csrf, "reason": "project over"}

        # A script's fetch() or a form posted into a frame: refused, nothing changes.
        for headers in (SCRIPT_FETCH, IN_A_FRAME, {}):
            refused = browser.post(revoke, data=form, headers=headers)
            assert refused.status_code == 403, refused.text
            assert "confirmation_refused" in refused.text
            _assert_unframeable(refused)
        assert _status(stack, admin_token, person, alloc) == "active"

        # The form posted as a page: a confirmation page, and still nothing changed.
        page = browser.post(revoke, data=form, headers=SCRIPTED_SUBMIT)
        assert page.status_code == 200, page.text
        assert "Confirm: Revoke allocation #" in page.text and "project over" in page.text
        _assert_unframeable(page)
        assert page.headers["cross-origin-opener-policy"] == "same-origin"
        nonce = NONCE_RE.search(page.text)
        assert nonce
        confirm_form = {
            "csrf_token": csrf,
            "action": "revoke",
            "target": str(alloc),
            "back": "",
            "confirmation": nonce.group(1),
            "field:reason": "project over",
        }
        assert _status(stack, admin_token, person, alloc) == "active"

        # A script submitting the confirmation without the person's click: refused.
        unclicked = browser.post(
            f"{PREFIX}admin/confirm", data=confirm_form, headers=SCRIPTED_SUBMIT
        )
        assert unclicked.status_code == 403 and "click" in unclicked.text
        # Fields other than the ones shown: refused, and that confirmation is used up.
        changed = {**confirm_form, "field:reason": "something else"}
        tampered = browser.post(f"{PREFIX}admin/confirm", data=changed, headers=CLICK)
        assert tampered.status_code == 403 and "fields were changed" in tampered.text
        spent = browser.post(f"{PREFIX}admin/confirm", data=confirm_form, headers=CLICK)
        assert spent.status_code == 403
        assert _status(stack, admin_token, person, alloc) == "active"

        # Again, and the person clicks: done once, and the same click cannot be replayed.
        page = browser.post(revoke, data=form, headers=SCRIPTED_SUBMIT)
        nonce = NONCE_RE.search(page.text)
        assert nonce
        confirm_form["confirmation"] = nonce.group(1)
        done = browser.post(f"{PREFIX}admin/confirm", data=confirm_form, headers=CLICK)
        assert done.status_code == 303, done.text
        assert done.headers["location"] == f"{PREFIX}admin"
        _assert_unframeable(done)
        assert _status(stack, admin_token, person, alloc) == "revoked"
        replay = browser.post(f"{PREFIX}admin/confirm", data=confirm_form, headers=CLICK)
        assert replay.status_code == 403 and "no change waiting" in replay.text
    finally:
        browser.close()
    with stack.pages(stack.user_token(person)) as them:
        assert "revoked" in them.get("").text


def test_a_token_client_acts_at_once(stack: WebStack) -> None:
    """An Authorization header is no ambient browser authority: no confirmation page."""
    admin_token = quota_admin_token(stack, "root")
    person, alloc = _research_allocation(stack, admin_token)
    with stack.pages(admin_token) as root:
        csrf = csrf_of(root.get("admin").text)
        done = root.post(
            f"admin/allocations/{alloc}/revoke", data={"csrf_token": csrf, "reason": "api"}
        )
    assert done.status_code == 303, done.text
    assert _status(stack, admin_token, person, alloc) == "revoked"


def _request(session: dict[str, Any]) -> Request:
    return Request({"type": "http", "method": "POST", "headers": [], "session": session})


def test_a_confirmation_expires_and_is_bound_to_its_fields() -> None:
    session: dict[str, Any] = {}
    req = _request(session)
    d = confirm.digest("revoke", 7, {"reason": "over"}, "")
    nonce = confirm.issue(req, d, now=1000.0)
    with pytest.raises(confirm.ConfirmationRefused, match="expired"):
        confirm.consume(req, nonce, d, now=1000.0 + confirm.TTL_SECONDS + 1)
    assert "confirm" not in session  # used up, even when refused
    nonce = confirm.issue(req, d, now=2000.0)
    other = confirm.digest("revoke", 8, {"reason": "over"}, "")
    with pytest.raises(confirm.ConfirmationRefused, match="fields were changed"):
        confirm.consume(req, nonce, other, now=2001.0)
    nonce = confirm.issue(req, d, now=3000.0)
    confirm.consume(req, nonce, d, now=3000.0 + confirm.TTL_SECONDS)
    with pytest.raises(confirm.ConfirmationRefused, match="no change waiting"):
        confirm.consume(req, nonce, d, now=3001.0)
