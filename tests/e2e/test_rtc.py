"""Real-time collaboration in the browser: two members of a consortium open the same notebook
on their team's collaboration server (real hub with hub_config, real quota service, real
JupyterLab with jupyter-collaboration, Chromium); what one types appears in the other's
notebook, both ways. A non-member opening the server gets the hub's 403.

Sign-in is the real MyST stand-in flow (httpx), its hub cookie handed to each browser.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from hub_config.teamdirs import team_dir
from tests.hub_config.stack import NexusStack, start_stack
from tests.support.consortia import create_consortium
from tests.support.oidc import OidcProvider, OidcUser
from tests.support.processes import TEST_OUTPUT

from .conftest import SCREENSHOTS

pytestmark = pytest.mark.browser

ANN, BEN, DAN = "rtc-ann", "rtc-ben", "rtc-dan"
TEAM = "RTC Team"
TEAM_USER = "team~" + team_dir(TEAM)
NOTEBOOK = "shared.ipynb"
WAIT_MS = 120_000


@dataclass
class Team:
    stack: NexusStack
    browsers: dict[str, httpx.Client]

    @property
    def server_url(self) -> str:
        return f"{self.stack.hub.url}/user/{TEAM_USER}/"


@pytest.fixture(scope="module")
def team(oidc_provider: OidcProvider) -> Iterator[Team]:
    """A hub + quota service; ann (lead) and ben (member) of RTC Team, dan of no team; the
    team server started by ben through the quota service, with one empty notebook."""
    workdir = TEST_OUTPUT / "e2e" / "rtc"
    shutil.rmtree(workdir, ignore_errors=True)
    stack = start_stack(workdir, oidc_provider)
    try:
        browsers = {}
        for name in (ANN, BEN, DAN):
            oidc_provider.set_user(OidcUser(name, groups=["myst-users"]))
            browsers[name] = stack.login(name)
        lead = stack.api(stack.user_token(ANN))
        stack.clients.append(lead)
        cid = create_consortium(stack.quota_admin(), TEAM, [ANN])
        added = lead.post(f"consortia/{cid}/members", json={"username": BEN})
        assert added.status_code == 201, added.text
        ben = stack.api(stack.user_token(BEN), timeout=120)
        stack.clients.append(ben)
        started = ben.post(f"consortia/{cid}/collab")
        assert started.status_code == 202, started.text
        stack.wait_ready(TEAM_USER)
        # ann writes the notebook into the team server (her share gives her its API).
        empty_cell = {"cell_type": "code", "source": "", "metadata": {}, "outputs": []}
        notebook = {
            "cells": [{**empty_cell, "execution_count": None}],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
        put = httpx.put(
            f"{stack.hub.url}/user/{TEAM_USER}/api/contents/{NOTEBOOK}",
            json={"type": "notebook", "content": notebook},
            headers={"Authorization": f"token {stack.user_token(ANN)}"},
            timeout=60,
        )
        assert put.status_code in (200, 201), put.text
        yield Team(stack, browsers)
    finally:
        stack.stop()


def _context(browser: Browser, team: Team, name: str) -> BrowserContext:
    """A browser signed in as `name`: the hub cookies of its MyST sign-in."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    cookies = [
        {"name": c.name, "value": c.value or "", "url": team.stack.hub.url}
        for c in team.browsers[name].cookies.jar
    ]
    context.add_cookies(cookies)  # type: ignore[arg-type]
    return context


def _open_notebook(page: Page, team: Team) -> None:
    """Open the shared notebook (approving the hub's access prompt for a shared server, and
    going without a kernel: the test edits, it does not run)."""
    page.goto(f"{team.server_url}lab/tree/{NOTEBOOK}?reset")
    authorize = page.get_by_role("button", name=re.compile("Authorize", re.I))
    if authorize.count():
        authorize.first.click()
    expect(page.locator(".jp-NotebookPanel:visible")).to_be_visible(timeout=WAIT_MS)
    no_kernel = page.locator(".jp-Dialog").get_by_role("button", name=re.compile("No Kernel", re.I))
    try:
        no_kernel.first.wait_for(timeout=15_000)
        no_kernel.first.click()
    except Exception:  # no kernel prompt: nothing to dismiss
        pass


def _type_into(page: Page, index: int, text: str) -> None:
    editor = page.locator(".jp-NotebookPanel:visible .jp-Cell .cm-content").nth(index)
    editor.click()
    page.keyboard.press("End")
    page.keyboard.type(text)


def _expect_text(page: Page, index: int, text: str) -> None:
    editor = page.locator(".jp-NotebookPanel:visible .jp-Cell .cm-content").nth(index)
    expect(editor).to_contain_text(text, timeout=WAIT_MS)


def test_two_members_see_each_others_edits(browser: Browser, team: Team) -> None:
    ann_ctx, ben_ctx = _context(browser, team, ANN), _context(browser, team, BEN)
    try:
        ann, ben = ann_ctx.new_page(), ben_ctx.new_page()
        _open_notebook(ann, team)
        _open_notebook(ben, team)
        _type_into(ann, 0, "from_ann = 1")
        _expect_text(ben, 0, "from_ann = 1")
        ben.screenshot(path=str(SCREENSHOTS / "rtc-ben-sees-ann.png"))
        _type_into(ben, 0, "  # and ben")
        _expect_text(ann, 0, "from_ann = 1  # and ben")
        ann.screenshot(path=str(SCREENSHOTS / "rtc-ann-sees-ben.png"))
    finally:
        ann_ctx.close()
        ben_ctx.close()


def test_a_non_member_gets_403_from_the_hub(browser: Browser, team: Team) -> None:
    context = _context(browser, team, DAN)
    try:
        page = context.new_page()
        response = page.goto(f"{team.server_url}lab")
        assert response is not None
        assert response.status == 403, response.url
        expect(page.locator("body")).to_contain_text("403")
        expect(page.locator("body")).to_contain_text("do not have permission to access Server")
        page.screenshot(path=str(SCREENSHOTS / "rtc-non-member-403.png"))
    finally:
        context.close()


def test_a_member_starts_it_from_the_hub_home_page(browser: Browser, team: Team) -> None:
    """ben stops the team server, signs in again (the home page lists the teams of the
    sign-in's entitlements: he joined after his first), clicks Start on the hub's home page,
    confirms on the quota service's page and lands in the team's JupyterLab."""
    stack = team.stack
    ben = stack.api(stack.user_token(BEN), timeout=120)
    stack.clients.append(ben)
    (mine,) = ben.get("me/collab").json()
    cid = mine["consortium_id"]
    assert ben.delete(f"consortia/{cid}/collab").status_code == 202
    stack.wait_gone(TEAM_USER)
    team.browsers[BEN] = stack.login(BEN)
    context = _context(browser, team, BEN)
    try:
        page = context.new_page()
        page.goto(f"{stack.hub.url}/hub/home")
        entry = page.locator(f'li.nexus-collab-server[data-team-user="{TEAM_USER}"]')
        expect(entry).to_contain_text(TEAM)
        expect(entry).to_contain_text("stopped")
        page.screenshot(path=str(SCREENSHOTS / "rtc-home-start.png"))
        entry.get_by_role("link", name="Start").click()
        page.wait_for_url(f"**/services/quota/collab/{cid}/start?from=hub")
        assert stack.server(TEAM_USER) is None  # the confirmation page started nothing
        expect(page.locator("#collab-confirm-what")).to_contain_text("billed to the")
        page.get_by_role("button", name="Start the team server").click()
        authorize = page.get_by_role("button", name=re.compile("Authorize", re.I))
        page.wait_for_url(
            re.compile(rf"/user/{re.escape(TEAM_USER)}/|/hub/api/oauth2/"), timeout=WAIT_MS
        )
        if "/oauth2/" in page.url and authorize.count():
            authorize.first.click()
        page.wait_for_url(re.compile(rf"/user/{re.escape(TEAM_USER)}/lab"), timeout=WAIT_MS)
        expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=WAIT_MS)
        page.screenshot(path=str(SCREENSHOTS / "rtc-home-started-lab.png"))
        assert stack.server(TEAM_USER) is not None

        # Back on the home page it runs: Open and Stop.
        page.goto(f"{stack.hub.url}/hub/home")
        expect(entry).to_contain_text("running")
        expect(entry.get_by_role("link", name="Open")).to_have_attribute(
            "href", f"/user/{TEAM_USER}/"
        )
        expect(entry.get_by_role("link", name="Stop")).to_be_visible()
    finally:
        context.close()
