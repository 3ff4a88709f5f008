"""In Chromium: sign in through the hub's OAuth, use the pages, save screenshots for the docs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.support.browser import launch
from tests.support.consortia import create_consortium
from tests.support.quota_tokens import quota_admin_token

from .browser import screenshot, sign_in
from .stack import WebStack

pytestmark = [pytest.mark.integration, pytest.mark.browser]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = launch(pw)
        try:
            yield b
        finally:
            b.close()


def test_sign_in_through_the_hub_and_file_a_request(web_stack: WebStack, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    sign_in(page, web_stack.public_pages_url, "astrid")
    assert page.url == web_stack.public_pages_url
    assert page.locator("h1").inner_text() == "My allocation"
    assert page.locator("header .who").inner_text() == "astrid"
    cookies = {c["name"]: c for c in context.cookies()}
    session = cookies["nexus-quota-session"]
    assert session["httpOnly"] and session["path"] == "/services/quota/"
    assert session["sameSite"] == "Lax"
    # The signed-in cookie opens pages only: the JSON API (no CSRF tokens) wants a header token.
    api = context.request.get(web_stack.public_pages_url + "api/v1/me")
    assert api.status == 401 and api.json()["code"] == "not_authenticated"
    screenshot(page, "my-allocation")

    page.click("text=Request an upgrade")
    page.fill("#justification", "too short")
    page.click("text=File the request")
    assert page.locator("#err-justification").is_visible()
    screenshot(page, "request-form-errors")
    page.check("input[name=tier][value=research]")
    page.fill(
        "#justification",
        "Forward-modelling Roman WFI images of 40 galaxy clusters with romanisim needs "
        "large servers for a few weeks.",
    )
    page.click("text=File the request")
    page.wait_for_url("**/services/quota/requests")
    assert "filed" in page.locator(".flash").inner_text()
    screenshot(page, "requests")

    page.click("text=Sign out")
    # Signing out of the quota pages signs out of the hub too (its tokens are revoked).
    page.wait_for_url("**/hub/login**")
    assert "Sign in" in page.locator("h1").inner_text()
    # The hub session is gone too: the pages send her to the hub's sign-in, not back in.
    page.goto(web_stack.public_pages_url)
    assert "/hub/login" in page.url
    assert "Sign in" in page.locator("h1").inner_text()
    context.close()


def test_admin_console_and_403_for_others(web_stack: WebStack, browser: Browser) -> None:
    quota_admin_token(web_stack, "operator")
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    sign_in(page, web_stack.public_pages_url, "operator")
    page.goto(web_stack.public_pages_url + "admin")
    assert page.locator("h1").inner_text() == "Admin console"
    screenshot(page, "admin-console")
    context.close()

    context = browser.new_context(viewport={"width": 1200, "height": 700})
    page = context.new_page()
    sign_in(page, web_stack.public_pages_url, "nosy")
    response = page.goto(web_stack.public_pages_url + "admin")
    assert response is not None and response.status == 403
    assert "Not allowed" in page.locator("h1").inner_text()
    screenshot(page, "forbidden")
    context.close()


def test_lead_page(web_stack: WebStack, browser: Browser) -> None:
    web_stack.user_token("lena")
    web_stack.user_token("mo")
    with web_stack.api(quota_admin_token(web_stack, "root")) as api:
        cid = create_consortium(
            api, "high-z", ["lena"], cpu_hours=50000, home_quota_gib=(1000, 1200), term_days=730
        )
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    sign_in(page, web_stack.public_pages_url, "lena")
    page.goto(f"{web_stack.public_pages_url}consortia/{cid}")
    page.fill("#add-member input[name=username]", "mo")
    page.fill("#add-member input[name=cpu_hours_share]", "20000")
    page.click("#add-member button")
    page.wait_for_url(f"**/consortia/{cid}")
    row = page.locator('tr[data-member="mo"]')
    row.locator("input[name=cpu_hours_share]").fill("60000")
    row.locator("button", has_text="Set").click()
    assert "can get at most 50000" in page.locator(".form-error").inner_text()
    screenshot(page, "consortium")
    context.close()
