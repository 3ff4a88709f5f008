"""What the quota service shows the internet (issue 15 items 14 and 2), through the hub's real
proxy (configurable-http-proxy) and directly, as the scraper and the hub reach it.

- `/metrics`: refused through the proxy, served directly;
- no docs UI at all (FastAPI's loads scripts from a CDN on the hub's origin);
- the OpenAPI document: only for callers with a token for this service;
- page forms: within a small limit (256 KiB, else 413), never multipart (415), before the
  CSRF check.
"""

from __future__ import annotations

import httpx
import pytest

from tests.support.quota import PREFIX

from .stack import WebStack, csrf_of

pytestmark = pytest.mark.integration


def proxied(stack: WebStack, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"token {token}"} if token else {}
    return httpx.Client(base_url=stack.public_pages_url, headers=headers, timeout=30)


def test_metrics_only_for_the_scraper(web_stack: WebStack) -> None:
    with proxied(web_stack) as internet:
        resp = internet.get("metrics")
        assert resp.status_code == 404
        assert resp.json()["code"] == "not_found"
        assert "nexus_quota" not in resp.text
        # A token does not open it either: it is not for people.
        token = web_stack.user_token("metrics-curious")
        with_token = internet.get("metrics", headers={"Authorization": f"token {token}"})
        assert with_token.status_code == 404
    # The scraper reaches the pod directly (the NetworkPolicy's metricsFrom).
    direct = httpx.get(f"{web_stack.url}{PREFIX}metrics", timeout=30)
    assert direct.status_code == 200
    assert "nexus_quota_request_seconds" in direct.text


@pytest.mark.parametrize("path", ["api/v1/docs", "api/v1/redoc", "docs", "redoc"])
def test_no_docs_ui(web_stack: WebStack, path: str) -> None:
    token = web_stack.user_token("docs-reader")
    with proxied(web_stack, token) as client:
        resp = client.get(path)
    assert resp.status_code in (302, 404), resp.text[:200]
    assert "cdn.jsdelivr.net" not in resp.text and "swagger" not in resp.text.lower()


def test_openapi_document_needs_a_token(web_stack: WebStack) -> None:
    with proxied(web_stack) as anon:
        resp = anon.get("api/v1/openapi.json")
        assert resp.status_code == 401
        assert resp.json()["code"] == "not_authenticated"
    with proxied(web_stack, "not-a-token") as forged:
        assert forged.get("api/v1/openapi.json").status_code == 401
    with proxied(web_stack, web_stack.user_token("spec-reader")) as person:
        spec = person.get("api/v1/openapi.json")
        assert spec.status_code == 200
        assert f"{PREFIX}api/v1/me" in spec.json()["paths"]


def test_pages_load_nothing_from_elsewhere(web_stack: WebStack) -> None:
    with proxied(web_stack, web_stack.user_token("page-reader")) as person:
        for page in ("", "requests", "requests/new"):
            resp = person.get(page)
            assert resp.status_code == 200, page
            assert "script-src 'self'" in resp.headers["content-security-policy"]
            assert "cdn." not in resp.text and "//unpkg" not in resp.text


def test_page_forms_have_a_small_limit(web_stack: WebStack) -> None:
    with web_stack.pages(web_stack.user_token("big-form")) as person:
        csrf = csrf_of(person.get("requests/new").text)
        big = {"csrf_token": csrf, "tier": "research", "justification": "x" * (300 * 1024)}
        resp = person.post("requests/new", data=big)
        assert resp.status_code == 413
        assert "text/html" in resp.headers["content-type"]
        assert "larger than this service accepts" in resp.text
        assert resp.headers["x-frame-options"] == "DENY"
        # Without a Content-Length, cut off while it streams in.
        chunks = iter([b"csrf_token=" + csrf.encode() + b"&justification="] + [b"x" * 8192] * 40)
        streamed = person.post(
            "requests/new",
            content=chunks,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert streamed.status_code == 413
        # The longest justification allowed, in a script that percent-encodes to 9 bytes a
        # character (180 KB), still fits.
        ok = person.post(
            "requests/new",
            data={"csrf_token": csrf, "tier": "research", "justification": "観" * 20000},
        )
        assert ok.status_code == 303, ok.text[:500]
        filed = person.get("api/v1/me/requests").json()
        assert filed[0]["justification"] == "観" * 20000


def test_page_forms_refuse_multipart(web_stack: WebStack) -> None:
    with web_stack.pages(web_stack.user_token("multipart-form")) as person:
        csrf = csrf_of(person.get("requests/new").text)
        resp = person.post(
            "requests/new",
            data={"csrf_token": csrf, "tier": "research"},
            files={"justification": ("j.txt", b"x" * 100)},
        )
        assert resp.status_code == 415
        assert "multipart" in resp.text
