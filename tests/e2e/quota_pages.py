"""People in the browser on the quota pages (/services/quota/) of the whole dev platform.

    crowd = People(browser, nexus, SCREENSHOTS)
    zoe = crowd.newcomer("up")            # a fresh MyST account (up-<random>), Entry on first use
    zoe.sign_in()                         # hub login → MyST stand-in (subject typed) → hub
    zoe.quota("requests/new")             # a quota page, signed in through the hub's OAuth
    zoe.dialogs                           # every alert/confirm/prompt the pages opened
    crowd.shoot_all("failed-x")           # what every open page shows

Fresh accounts make the tests independent of what earlier runs left in a kept state directory.
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

from playwright.sync_api import Browser, Dialog, Response

from dev.accounts import ALLOWED_GROUPS
from dev.settings import QUOTA_PREFIX
from tests.support.oidc import OidcProvider, OidcUser
from tests.support.platform import RunningPlatform
from tests.support.processes import REPO_ROOT

from .lab import LabSession

DOC_IMAGES = REPO_ROOT / "docs" / "images"


class Person(LabSession):
    """A signed-in person; records every JavaScript dialog the pages open (and dismisses it)."""

    def __init__(self, browser: Browser, nexus: RunningPlatform, username: str, shots: Path):
        super().__init__(browser, nexus, username, shots)
        self.dialogs: list[str] = []
        self.page.on("dialog", self._on_dialog)

    def _on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def sign_in(self) -> None:
        """The hub's login page → MyST stand-in → type the subject, Authorize → the hub."""
        page = self.page
        page.goto(f"{self.nexus.url}/hub/login")
        page.get_by_text("Sign in with MyST").click()
        page.wait_for_url(f"{self.nexus.settings.oidc_issuer}/**")
        page.locator('input[name="sub"]').fill(self.username)
        page.get_by_role("button", name="Authorize", exact=True).click()
        page.wait_for_url(f"{self.nexus.url}/hub/**")
        page.wait_for_load_state()

    @property
    def quota_url(self) -> str:
        return f"{self.nexus.url}{QUOTA_PREFIX}"

    def quota(self, path: str = "") -> Response:
        """Open a quota page (the first visit signs in through the hub's OAuth, no prompt)."""
        response = self.page.goto(self.quota_url + path)
        assert response is not None
        self.page.wait_for_url(re.compile(re.escape(self.quota_url) + ".*"))
        return response

    def doc_shot(self, name: str, *, full_page: bool = False) -> Path:
        """A screenshot under test-output, copied to docs/images/ for the guides."""
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        DOC_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOC_IMAGES / path.name)
        return path


class People:
    """The browser contexts a test module opens, so a failure can show every page."""

    def __init__(self, browser: Browser, nexus: RunningPlatform, shots: Path) -> None:
        self.browser = browser
        self.nexus = nexus
        self.shots = shots
        self.open: list[Person] = []

    def person(self, username: str) -> Person:
        """A preset account (dev/accounts.py) in a browser context of its own."""
        person = Person(self.browser, self.nexus, username, self.shots)
        self.open.append(person)
        return person

    def newcomer(self, prefix: str, groups: tuple[str, ...] = ALLOWED_GROUPS) -> Person:
        """A MyST account no earlier run has used: `<prefix>-<8 hex>`, in `groups`."""
        username = f"{prefix}-{uuid.uuid4().hex[:8]}"
        OidcProvider(issuer=self.nexus.settings.oidc_issuer).set_user(
            OidcUser(username, groups=list(groups))
        )
        return self.person(username)

    def shoot_all(self, name: str) -> None:
        for person in self.open:
            try:
                person.shot(f"{name}-{person.username}")
            except Exception:  # a closed page must not hide the test's own error
                pass

    def close(self) -> None:
        for person in self.open:
            try:
                person.close()
            except Exception:
                pass
        self.open.clear()
