"""Sign-in refuses, with the reason, a MyST username that cannot name a directory."""

from __future__ import annotations

import httpx
import pytest

from tests.hub_config.stack import NexusStack
from tests.support.oidc import OidcUser

pytestmark = pytest.mark.integration


def test_a_username_too_long_for_a_directory_is_refused_at_sign_in(stack: NexusStack) -> None:
    name = "é" * 100  # 200 bytes of UTF-8, 600 once encoded: over one path component
    stack.provider.set_user(OidcUser("longname", username=name, groups=["myst-users"]))
    with httpx.Client(timeout=60) as browser:
        resp = stack.provider.login(browser, stack.hub.url, "longname")
        assert resp.status_code == 403
        assert "too long to name a directory" in resp.text
        assert browser.get(f"{stack.hub.url}/hub/api/user").status_code in (401, 403)
    users = stack.hub_admin().get("users")
    assert users.status_code == 200
    assert name not in {u["name"] for u in users.json()}


def test_a_username_that_needs_encoding_signs_in_and_spawns(stack: NexusStack) -> None:
    stack.provider.set_user(OidcUser("jdoe", username="Jane.Doe", groups=["myst-users"]))
    browser = stack.login("jdoe")
    assert stack.whoami(browser) == "jane.doe"  # JupyterHub lowercases names
    resp = stack.spawn(browser, {"profile": "small"})
    assert resp.status_code in (200, 302), resp.text
    stack.wait_ready("jane.doe")
    scratch = stack.server_env("jane.doe")["SCRATCH_DIR"]
    assert scratch.endswith("/scratch/jane-2edoe")
    stack.stop_server("jane.doe")
