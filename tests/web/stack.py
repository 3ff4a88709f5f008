"""A real hub that routes /services/quota/ to a real quota service, for the pages' tests.

It reuses the quota API tests' hub configuration and gives the `quota` service a URL (so the
hub's proxy routes to it and registers its OAuth redirect URI) and `oauth_no_confirm`.

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

EXTRA_HUB_CONFIG = """
import os
for _service in c.JupyterHub.services:
    if _service["name"] == "quota":
        _service["url"] = os.environ["TEST_QUOTA_URL"]
        _service["oauth_no_confirm"] = True
# Everyone may sign in to the quota pages (the real hub_config must grant the same).
c.JupyterHub.load_roles.append(
    {"name": "user", "scopes": ["self", "access:services!service=quota"]}
)
"""

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
        extra_hub_config=EXTRA_HUB_CONFIG,
        # The loop guard: a page that runs a synchronous transaction on the event loop fails.
        env={"NEXUS_QUOTA_SESSION_SECRET": secrets.token_hex(32), LOOP_GUARD_ENV: "1"},
    )
