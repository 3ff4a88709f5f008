"""The pages over HTTP: a real quota service behind a real hub, people identified by hub tokens."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.support.consortia import create_consortium
from tests.support.quota_tokens import quota_admin_token

from .stack import WebStack, csrf_of

pytestmark = pytest.mark.integration

XSS = '<script>alert("xss")</script><img src=x onerror=alert(2)> I need more CPU for my survey'


def form_post(
    client: httpx.Client, path: str, data: dict[str, str], *, page: str
) -> httpx.Response:
    """Post a form the way a browser would: with the CSRF token of the page it came from."""
    token = csrf_of(client.get(page).text)
    return client.post(path, data={**data, "csrf_token": token})


def test_unauthenticated_page_redirects_to_sign_in_but_api_says_401(web_stack: WebStack) -> None:
    with web_stack.pages(None) as anon:
        page = anon.get("requests?x=1")
        assert page.status_code == 302
        assert (
            page.headers["location"]
            == "/services/quota/login?next=/services/quota/requests%3Fx%3D1"
        )
        api = anon.get("api/v1/me")
        assert api.status_code == 401
        assert api.json()["code"] == "not_authenticated"


def test_login_redirects_to_hub_with_state_cookie(web_stack: WebStack) -> None:
    with web_stack.pages(None) as anon:
        resp = anon.get("login", params={"next": "/services/quota/admin"})
    assert resp.status_code == 302
    target = urlparse(resp.headers["location"])
    assert target.path == "/hub/api/oauth2/authorize"
    query = parse_qs(target.query)
    assert query["client_id"] == ["service-quota"]
    assert query["redirect_uri"] == ["/services/quota/oauth_callback"]
    assert query["response_type"] == ["code"]
    cookie = resp.headers["set-cookie"]
    assert "nexus-quota-oauth-state=" in cookie
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/services/quota/" in cookie


def test_callback_with_forged_state_is_refused(web_stack: WebStack) -> None:
    with web_stack.pages(None) as anon:
        anon.get("login")
        resp = anon.get("oauth_callback", params={"code": "abc", "state": "not-the-state"})
    assert resp.status_code == 403
    assert "could not be verified" in resp.text
    assert resp.headers["content-type"].startswith("text/html")


def test_my_allocation_page(web_stack: WebStack) -> None:
    with web_stack.pages(web_stack.user_token("alice")) as alice:
        resp = alice.get("")
    assert resp.status_code == 200
    body = resp.text
    assert "My allocation" in body
    assert "Entry (alice)" in body
    assert 'class="chart gauge"' in body
    assert 'id="no-purge"' in body
    assert "Nothing of yours is archived" in body
    assert resp.headers["content-security-policy"].startswith("default-src 'self'")


def test_static_css_is_served_locally(web_stack: WebStack) -> None:
    with web_stack.pages(None) as anon:
        resp = anon.get("static/nexus.css")
    assert resp.status_code == 200
    assert "svg.chart" in resp.text


def test_unknown_page_is_a_404_page_and_unknown_api_stays_json(web_stack: WebStack) -> None:
    with web_stack.pages(web_stack.user_token("alice")) as alice:
        page = alice.get("no/such/page")
        api = alice.get("api/v1/no-such-endpoint")
        bad_id = alice.get("consortia/not-a-number")
    assert page.status_code == 404 and "there is no such page" in page.text
    assert page.headers["content-type"].startswith("text/html")
    assert api.status_code == 404 and api.json()["code"] == "not_found"
    assert bad_id.status_code == 404 and bad_id.headers["content-type"].startswith("text/html")


def test_forms_without_or_with_a_wrong_csrf_token_are_refused(web_stack: WebStack) -> None:
    data = {"tier": "research", "justification": "x" * 40}
    with web_stack.pages(web_stack.user_token("mallory")) as client:
        client.get("requests/new")
        missing = client.post("requests/new", data=data)
        wrong = client.post("requests/new", data={**data, "csrf_token": "A" * 43})
        mine = client.get("api/v1/me/requests").json()
    for resp in (missing, wrong):
        assert resp.status_code == 403
        assert "security token" in resp.text
    assert mine == []


def test_request_form_shows_errors_next_to_fields(web_stack: WebStack) -> None:
    with web_stack.pages(web_stack.user_token("erin")) as erin:
        short = form_post(
            erin,
            "requests/new",
            {"tier": "research", "justification": "too short"},
            page="requests/new",
        )
        consortium = form_post(
            erin,
            "requests/new",
            {"tier": "consortium", "justification": "a consortium of many people " * 2},
            page="requests/new",
        )
        nul = form_post(
            erin,
            "requests/new",
            {"tier": "research", "justification": "a long enough justification\x00 here"},
            page="requests/new",
        )
        assert erin.get("api/v1/me/requests").json() == []  # nothing was filed
    assert short.status_code == 422
    assert 'id="err-justification"' in short.text
    assert "at least 20 characters" in short.text
    assert ">too short</textarea>" in short.text  # what was typed is kept
    assert consortium.status_code == 422
    assert 'id="err-proposal_ref"' in consortium.text
    assert "proposal reference" in consortium.text
    assert nul.status_code == 422
    assert 'id="err-justification"' in nul.text
    assert "NUL character" in nul.text


def test_file_and_withdraw_a_request(web_stack: WebStack) -> None:
    with web_stack.pages(web_stack.user_token("frank")) as frank:
        filed = form_post(
            frank,
            "requests/new",
            {"tier": "research", "kind": "upgrade", "justification": "Weak lensing maps " * 3},
            page="requests/new",
        )
        assert filed.status_code == 303
        assert filed.headers["location"] == "/services/quota/requests"
        listing = frank.get("requests")
        assert "Request #" in listing.text and "pending" in listing.text
        (req,) = frank.get("api/v1/me/requests").json()
        withdrawn = form_post(frank, f"requests/{req['id']}/withdraw", {}, page="requests")
        assert withdrawn.status_code == 303
        assert frank.get("api/v1/me/requests").json()[0]["status"] == "withdrawn"
        assert "withdrawn" in frank.get("requests").text


def test_stored_xss_in_a_justification_renders_as_text(web_stack: WebStack) -> None:
    admin = quota_admin_token(web_stack, "root")
    with web_stack.pages(web_stack.user_token("xavier")) as xavier:
        filed = form_post(
            xavier, "requests/new", {"tier": "research", "justification": XSS}, page="requests/new"
        )
        assert filed.status_code == 303
        mine = xavier.get("requests").text
    with web_stack.pages(admin) as root:
        console = root.get("admin").text
    for page in (mine, console):
        assert "<script>alert" not in page
        assert "<img src=x" not in page
        assert "&lt;script&gt;alert(" in page
        assert "&lt;img src=x onerror=alert(2)&gt; I need more CPU" in page


def test_non_admin_gets_403_pages(web_stack: WebStack) -> None:
    web_stack.user_token("alice")
    with web_stack.pages(web_stack.user_token("bob")) as bob:
        console = bob.get("admin")
        other = bob.get("users/alice")
        post = form_post(
            bob,
            "admin/allocations",
            {"username": "bob", "tier": "research", "reason": "self-service"},
            page="requests/new",
        )
        own = bob.get("users/bob")
    for resp in (console, other, post):
        assert resp.status_code == 403
        assert resp.headers["content-type"].startswith("text/html")
        assert "Not allowed" in resp.text
    assert own.status_code == 302 and own.headers["location"] == "/services/quota/"


def test_admin_sees_a_user_and_404_for_unknown(web_stack: WebStack) -> None:
    web_stack.user_token("alice")
    with web_stack.pages(web_stack.user_token("alice")) as alice:
        alice.get("")
    with web_stack.pages(quota_admin_token(web_stack, "root")) as root:
        page = root.get("users/alice")
        missing = root.get("users/nobody-here")
    assert page.status_code == 200 and "Allocation of alice" in page.text
    assert missing.status_code == 404 and "nobody-here" in missing.text


def test_admin_approves_a_request_in_the_console(web_stack: WebStack) -> None:
    with web_stack.pages(web_stack.user_token("grace")) as grace:
        form_post(
            grace,
            "requests/new",
            {"tier": "research", "justification": "Galaxy cluster simulations " * 2},
            page="requests/new",
        )
        (req,) = grace.get("api/v1/me/requests").json()
    with web_stack.pages(quota_admin_token(web_stack, "root")) as root:
        console = root.get("admin").text
        assert f'data-request="{req["id"]}"' in console
        assert "Galaxy cluster simulations" in console
        bad = form_post(
            root, f"admin/requests/{req['id']}/approve", {"cpu_hours": "-5"}, page="admin"
        )
        assert bad.status_code == 422
        assert 'id="err-cpu_hours"' in bad.text
        ok = form_post(
            root,
            f"admin/requests/{req['id']}/approve",
            {
                "cpu_hours": "5000",
                "home_quota_soft_gib": "100",
                "home_quota_hard_gib": "120",
                "term_days": "365",
                "note": "welcome",
            },
            page="admin",
        )
        assert ok.status_code == 303
        after = root.get("admin").text
        assert f'data-request="{req["id"]}"' not in after
        assert "request.approve.upgrade" in after
    with web_stack.pages(web_stack.user_token("grace")) as grace:
        page = grace.get("").text
    assert "Research (grace)" in page
    assert "5,000" in page


def test_deny_needs_a_note(web_stack: WebStack) -> None:
    with web_stack.pages(web_stack.user_token("heidi")) as heidi:
        form_post(
            heidi,
            "requests/new",
            {"tier": "research", "justification": "Spectra " * 5},
            page="requests/new",
        )
        (req,) = heidi.get("api/v1/me/requests").json()
    with web_stack.pages(quota_admin_token(web_stack, "root")) as root:
        empty = form_post(root, f"admin/requests/{req['id']}/deny", {"note": ""}, page="admin")
        assert empty.status_code == 422 and 'id="err-note"' in empty.text
        denied = form_post(
            root,
            f"admin/requests/{req['id']}/deny",
            {"note": "please add a data plan"},
            page="admin",
        )
        assert denied.status_code == 303
    with web_stack.pages(web_stack.user_token("heidi")) as heidi:
        page = heidi.get("requests").text
    assert "denied" in page and "please add a data plan" in page


def test_grant_extend_revoke_and_search(web_stack: WebStack) -> None:
    web_stack.user_token("ivan")
    with web_stack.pages(web_stack.user_token("ivan")) as ivan:
        ivan.get("")
    with web_stack.pages(quota_admin_token(web_stack, "root")) as root:
        granted = form_post(
            root,
            "admin/allocations",
            {
                "username": "ivan",
                "tier": "research",
                "cpu_hours": "300",
                "term_days": "30",
                "reason": "pilot",
            },
            page="admin",
        )
        assert granted.status_code == 303
        found = root.get("admin", params={"q": "iva"}).text
        assert 'href="/services/quota/users/ivan"' in found
        research = next(
            a
            for a in root.get("api/v1/admin/users/ivan").json()["allocations"]
            if a["tier"] == "research"
        )
        extended = form_post(
            root,
            f"admin/allocations/{research['id']}/extend",
            {"days": "10", "reason": "more time", "back": "/services/quota/users/ivan"},
            page="users/ivan",
        )
        assert extended.status_code == 303
        assert extended.headers["location"] == "/services/quota/users/ivan"
        no_reason = form_post(
            root,
            f"admin/allocations/{research['id']}/revoke",
            {"reason": "", "back": "/services/quota/users/ivan"},
            page="users/ivan",
        )
        assert no_reason.status_code == 422 and "Allocation of ivan" in no_reason.text
        revoked = form_post(
            root,
            f"admin/allocations/{research['id']}/revoke",
            {"reason": "project over", "back": "/services/quota/users/ivan"},
            page="users/ivan",
        )
        assert revoked.status_code == 303
        audit = root.get("admin").text
    assert "allocation.revoke" in audit or "revoke" in audit
    with web_stack.pages(web_stack.user_token("ivan")) as ivan:
        assert "revoked" in ivan.get("").text


def test_lead_sets_shares_within_the_pool(web_stack: WebStack) -> None:
    web_stack.user_token("carol")
    web_stack.user_token("dave")
    with web_stack.api(quota_admin_token(web_stack, "root")) as api:
        cid = create_consortium(
            api, "deep-fields", ["carol"], cpu_hours=1000, home_quota_gib=(500, 600), term_days=365
        )
    with web_stack.pages(web_stack.user_token("dave")) as dave:
        assert dave.get(f"consortia/{cid}").status_code == 403
    with web_stack.pages(web_stack.user_token("carol")) as carol:
        page = f"consortia/{cid}"
        assert "Consortium deep-fields" in carol.get(page).text
        added = form_post(
            carol,
            f"consortia/{cid}/members",
            {"username": "dave", "role": "member", "cpu_hours_share": "100"},
            page=page,
        )
        assert added.status_code == 303
        too_much = form_post(
            carol, f"consortia/{cid}/members/dave/share", {"cpu_hours_share": "5000"}, page=page
        )
        assert too_much.status_code == 409
        assert "pool" in too_much.text
        assert 'value="5000"' in too_much.text  # the refused value is shown with the reason
        ok = form_post(
            carol, f"consortia/{cid}/members/dave/share", {"cpu_hours_share": "250"}, page=page
        )
        assert ok.status_code == 303
        assert 'data-member="dave"' in carol.get(page).text
    with web_stack.pages(web_stack.user_token("dave")) as dave:
        mine = dave.get("").text
    assert "consortium deep-fields" in mine
    assert ">250<" in mine
