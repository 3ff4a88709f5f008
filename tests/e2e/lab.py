"""A person in the browser: sign in through the MyST stand-in, spawn, drive JupyterLab."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.support.platform import RunningPlatform

SPAWN_TIMEOUT_MS = 180_000
RUN_TIMEOUT_MS = 180_000


class LabSession:
    def __init__(
        self, browser: Browser, nexus: RunningPlatform, username: str, shots: Path
    ) -> None:
        self.nexus = nexus
        self.username = username
        self.shots = shots
        self.context = browser.new_context(viewport={"width": 1366, "height": 860})
        self.page: Page = self.context.new_page()

    @property
    def lab_url(self) -> str:
        return f"{self.nexus.url}/user/{self.username}/lab"

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def sign_in(self) -> None:
        """The hub's login page → MyST stand-in → pick the account → back at the hub."""
        page = self.page
        page.goto(f"{self.nexus.url}/hub/login")
        page.get_by_text("Sign in with MyST").click()
        page.wait_for_url(f"{self.nexus.settings.oidc_issuer}/**")
        page.get_by_role("button", name=self.username, exact=True).click()
        page.wait_for_load_state()

    def size_choices(self) -> list[str]:
        self.page.goto(f"{self.nexus.url}/hub/spawn")
        radios = self.page.locator('input[type="radio"][name="profile"]')
        expect(radios.first).to_be_visible()
        return [str(radios.nth(i).get_attribute("value")) for i in range(radios.count())]

    def start_server(self, size: str) -> None:
        """From the spawn form: choose `size`, press Start, wait for JupyterLab."""
        page = self.page
        page.locator(f'input[type="radio"][name="profile"][value="{size}"]').check()
        page.get_by_role("button", name="Start").click()
        page.wait_for_url(re.compile(rf".*/user/{self.username}/lab.*"), timeout=SPAWN_TIMEOUT_MS)
        expect(page.locator(".jp-LabShell")).to_be_visible(timeout=SPAWN_TIMEOUT_MS)
        self.dismiss_news()

    def dismiss_news(self) -> None:
        """JupyterLab's first-run 'notified about official Jupyter news?' toast."""
        no = self.page.locator(".jp-Notification-Toast-Close, .Toastify__close-button")
        if no.count():
            no.first.click()

    def open_notebook(self, path: str) -> None:
        """Open `path` (relative to the home) alone and wait for its kernel to be idle.

        `?reset` starts from an empty workspace: otherwise JupyterLab also restores the
        notebooks left open earlier, and Run menu commands may act on one of those.
        """
        self.page.goto(f"{self.lab_url}/tree/{path}?reset")
        expect(self.page.locator(".jp-NotebookPanel:visible")).to_be_visible(
            timeout=SPAWN_TIMEOUT_MS
        )
        self.wait_idle()
        self.dismiss_news()

    def expect_kernel(self, display_name: str) -> None:
        """The notebook's toolbar names the kernel once it has started."""
        name = self.page.locator(".jp-NotebookPanel:visible .jp-KernelName")
        expect(name).to_have_text(display_name, timeout=SPAWN_TIMEOUT_MS)
        self.wait_idle()

    def wait_idle(self, timeout: int = RUN_TIMEOUT_MS) -> None:
        indicator = self.page.locator(".jp-NotebookPanel:visible .jp-Notebook-ExecutionIndicator")
        expect(indicator).to_have_attribute("data-status", "idle", timeout=timeout)

    def run_all(self) -> None:
        """Run ▸ Run All Cells, then wait until every code cell has run."""
        page = self.page
        notebook = page.locator(".jp-NotebookPanel:visible")
        started = notebook.locator(".jp-InputArea-prompt").filter(
            has_text=re.compile(r"\[(\*|1)\]")
        )
        # A click that lands while the new kernel is still connecting runs nothing; a person
        # would simply try again.
        for _attempt in range(3):
            self.wait_idle()
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
            try:
                expect(started.first).to_be_visible(timeout=15_000)
                break
            except AssertionError:
                continue
        pending = notebook.locator(".jp-InputArea-prompt", has_text="[*]")
        expect(notebook.locator(".jp-InputArea-prompt", has_text="[1]").first).to_be_visible(
            timeout=RUN_TIMEOUT_MS
        )
        expect(pending).to_have_count(0, timeout=RUN_TIMEOUT_MS)
        self.wait_idle()

    def run_offline_cells(self, first_internet_cell: int | None) -> None:
        """Run what works offline: every cell above the first internet-tagged one (or all)."""
        if first_internet_cell is None:
            self.run_all()
            return
        page = self.page
        cell = page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell").nth(
            first_internet_cell
        )
        cell.scroll_into_view_if_needed()
        cell.locator(".jp-InputPrompt").first.click()
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name=re.compile(r"^Run All Above Selected Cell")).click()
        notebook = page.locator(".jp-NotebookPanel:visible")
        expect(notebook.locator(".jp-InputArea-prompt", has_text="[1]").first).to_be_visible(
            timeout=RUN_TIMEOUT_MS
        )
        pending = notebook.locator(".jp-InputArea-prompt", has_text="[*]")
        expect(pending).to_have_count(0, timeout=RUN_TIMEOUT_MS)
        self.wait_idle()

    def outputs(self) -> str:
        # textContent, not innerText: JupyterLab skips rendering off-screen cells
        # (content-visibility), and innerText of an unrendered output is empty.
        areas = self.page.locator(".jp-NotebookPanel:visible .jp-OutputArea-output")
        return "\n".join(t or "" for t in areas.all_text_contents())

    def errors(self) -> str:
        err = self.page.locator(
            '.jp-NotebookPanel:visible .jp-OutputArea-output[data-mime-type*="error"]'
        )
        return "\n".join(t or "" for t in err.all_text_contents())

    def close(self) -> None:
        self.context.close()
