"""A real hub that routes /services/quota/ to a real quota service, for the pages' tests.

It is the quota API tests' stack: the hub's configuration (hub_config's services) gives the
`quota` service its URL, so the hub's proxy routes to it and registers its OAuth redirect URI.

    stack = start_web_stack(workdir, db_url)
    stack.pages(token)           # httpx client for <quota>/services/quota/ with a hub token
    stack.public_pages_url       # the pages through the hub's proxy, for a browser
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import httpx

from quota_service.db import LOOP_GUARD_ENV
from tests.support.quota import PREFIX, QuotaStack

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


class WebStack(QuotaStack):
    @property
    def pages_url(self) -> str:
        return f"{self.url}{PREFIX}"

    @property
    def public_pages_url(self) -> str:
        return f"{self.hub.url}{PREFIX}"

    def pages(self, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"token {token}"} if token else {}
        return httpx.Client(base_url=self.pages_url, headers=headers, timeout=30.0)


def csrf_of(html: str) -> str:
    found = CSRF_RE.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def start_web_stack(workdir: Path, db_url: str) -> WebStack:
    return WebStack.start(
        workdir,
        db_url,
        # The loop guard: a page that runs a synchronous transaction on the event loop fails.
        env={"NEXUS_QUOTA_SESSION_SECRET": secrets.token_hex(32), LOOP_GUARD_ENV: "1"},
    )
