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
import sys
from pathlib import Path

import httpx

from quota_service import db
from tests.support.hub import start_hub
from tests.support.processes import ServerProcess, free_port
from tests.support.quota import PREFIX, QUOTA_HUB_CONFIG, QuotaStack

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
    tokens = {k: secrets.token_hex(16) for k in ("quota", "admin", "hook", "jobs")}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    hub = start_hub(
        workdir / "hub",
        base_config=QUOTA_HUB_CONFIG,
        extra_config=EXTRA_HUB_CONFIG,
        env={
            "TEST_QUOTA_TOKEN": tokens["quota"],
            "TEST_ADMIN_TOKEN": tokens["admin"],
            "TEST_HOOK_TOKEN": tokens["hook"],
            "TEST_JOBS_TOKEN": tokens["jobs"],
            "TEST_QUOTA_URL": url,
        },
    )
    db.upgrade(db_url)
    proc = ServerProcess(
        name="nexus-quota",
        argv=[sys.executable, "-m", "quota_service.cli.main", "serve", "--port", str(port)],
        log_path=workdir / "quota-service.log",
        env={
            "NEXUS_QUOTA_DATABASE_URL": db_url,
            "JUPYTERHUB_API_URL": hub.api_url,
            "JUPYTERHUB_API_TOKEN": tokens["quota"],
            "JUPYTERHUB_SERVICE_PREFIX": PREFIX,
            "NEXUS_QUOTA_SESSION_SECRET": secrets.token_hex(32),
        },
    ).start()
    try:
        proc.wait_http(f"{url}{PREFIX}api/v1/health", timeout=60)
    except Exception:
        hub.stop()
        raise
    return WebStack(
        hub=hub,
        proc=proc,
        url=url,
        admin_service_token=tokens["admin"],
        hook_token=tokens["hook"],
        jobs_token=tokens["jobs"],
        quota_token=tokens["quota"],
    )
