"""The page of a person's team collaboration servers (/services/quota/collab): what members
and others see, and the start and stop forms (CSRF, membership) against the real service."""

from __future__ import annotations

import uuid

import pytest

from hub_config.collab import team_username
from tests.support.consortia import create_consortium
from tests.support.quota_tokens import quota_admin_token

from .stack import WebStack, csrf_of

pytestmark = pytest.mark.integration


def test_members_see_their_team_server_and_others_are_refused(web_stack: WebStack) -> None:
    tag = uuid.uuid4().hex[:8]
    lead, member, outsider = f"cp-lead-{tag}", f"cp-mem-{tag}", f"cp-out-{tag}"
    team = f"cp-team-{tag}"
    for person in (lead, member, outsider):
        web_stack.user_token(person)
    with web_stack.api(quota_admin_token(web_stack, f"cp-adm-{tag}")) as adm:
        cid = create_consortium(adm, team, [lead])
        assert adm.post(f"consortia/{cid}/members", json={"username": member}).status_code == 201

    with web_stack.pages(web_stack.user_token(member)) as page:
        listed = page.get("collab")
        assert listed.status_code == 200, listed.text
        assert f'data-team-user="{team_username(team)}"' in listed.text
        assert f'action="/services/quota/collab/{cid}/start"' in listed.text
        assert "stopped" in listed.text
        token = csrf_of(listed.text)
        # Without the form's token nothing happens.
        forged = page.post(f"collab/{cid}/stop", data={})
        assert forged.status_code == 403 and "csrf" in forged.text.lower()
        # Stopping a server that is not running is fine: back to the list.
        stopped = page.post(f"collab/{cid}/stop", data={"csrf_token": token})
        assert stopped.status_code == 303, stopped.text
        assert stopped.headers["location"].endswith("/collab")

    with web_stack.pages(web_stack.user_token(outsider)) as page:
        mine = page.get("collab")
        assert mine.status_code == 200
        assert 'id="collab-none"' in mine.text
        assert team_username(team) not in mine.text
        token = csrf_of(page.get("requests/new").text)  # a page of theirs with a form
        refused = page.post(f"collab/{cid}/start", data={"csrf_token": token})
        assert refused.status_code == 403
        assert "only members of consortium" in refused.text


def test_the_confirmation_pages_change_nothing_and_need_the_form_token(
    web_stack: WebStack,
) -> None:
    """What the hub's home page links to: GET .../start and .../stop are confirmation pages
    (nothing starts or stops); their forms carry the CSRF token; a POST without it is
    refused; non-members get 403 and an unknown consortium 404."""
    tag = uuid.uuid4().hex[:8]
    member, outsider = f"cc-mem-{tag}", f"cc-out-{tag}"
    team = f"cc-team-{tag}"
    for person in (member, outsider):
        web_stack.user_token(person)
    with web_stack.api(quota_admin_token(web_stack, f"cc-adm-{tag}")) as adm:
        cid = create_consortium(adm, team, [member])
    hub_user = team_username(team)
    with web_stack.hub.api(web_stack.admin_service_token) as hub:
        assert hub.get(f"users/{hub_user}").status_code == 404

    with web_stack.pages(web_stack.user_token(member)) as page:
        for verb in ("start", "stop"):
            confirm = page.get(f"collab/{cid}/{verb}", params={"from": "hub"})
            assert confirm.status_code == 200, confirm.text
            assert f'action="/services/quota/collab/{cid}/{verb}"' in confirm.text
            assert 'name="return_to" value="hub"' in confirm.text
            assert f"the {team} team server" in confirm.text
            assert csrf_of(confirm.text)
        # Two GETs of the start page later the team has no hub user, so nothing started.
        with web_stack.hub.api(web_stack.admin_service_token) as hub:
            assert hub.get(f"users/{hub_user}").status_code == 404
        # Without the form's token the POST is refused, and still nothing started.
        forged = page.post(f"collab/{cid}/start", data={"return_to": "hub"})
        assert forged.status_code == 403 and "csrf" in forged.text.lower()
        with web_stack.hub.api(web_stack.admin_service_token) as hub:
            assert hub.get(f"users/{hub_user}").status_code == 404
        # The open page only reads the hub: not running, so it offers the start.
        opened = page.get(f"collab/{cid}/open")
        assert opened.status_code == 200, opened.text
        assert 'id="collab-not-running"' in opened.text
        # A confirmed stop of a stopped server from the hub goes back to the hub's home.
        token = csrf_of(page.get(f"collab/{cid}/stop", params={"from": "hub"}).text)
        done = page.post(f"collab/{cid}/stop", data={"csrf_token": token, "return_to": "hub"})
        assert done.status_code == 303, done.text
        assert done.headers["location"].endswith("/hub/home")
        assert page.get(f"collab/{cid + 10_000_000}/start").status_code == 404

    with web_stack.pages(web_stack.user_token(outsider)) as page:
        for path in (f"collab/{cid}/start", f"collab/{cid}/stop", f"collab/{cid}/open"):
            refused = page.get(path, params={"from": "hub"})
            assert refused.status_code == 403, (path, refused.text)
            assert "only members of consortium" in refused.text
