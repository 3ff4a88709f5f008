"""Playwright helpers for the pages: Debian's Chromium, sign-in through the hub, screenshots.

Usable against any platform: give `sign_in` the pages' public URL (…/services/quota/).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from playwright.sync_api import Page

from tests.support.processes import REPO_ROOT, TEST_OUTPUT

SCREENSHOTS = TEST_OUTPUT / "screenshots" / "web"
DOC_IMAGES = REPO_ROOT / "docs" / "images"


def sign_in(page: Page, pages_url: str, username: str, password: str = "any") -> None:
    """Open the pages signed out, sign in on the hub's login form, land back on the pages."""
    page.goto(pages_url)
    page.wait_for_url("**/hub/login**")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("[type=submit]")
    page.wait_for_url(pages_url.rstrip("/") + "/**")


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot under test-output and copy it for the docs."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"web-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    DOC_IMAGES.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, DOC_IMAGES / path.name)
    return path
