"""Issue 15 item 7: identity from the stable `sub`, admin rights from a provider-set claim.

The real OIDC stand-in changes accounts live (`set_user`), as MyST would when a person renames
themselves or joins a group; the hub is the real one with hub_config (hub_config/identity.py).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.hub_config.stack import NexusStack, start_stack
from tests.support.oidc import OidcProvider, OidcUser
from tests.support.processes import TEST_OUTPUT

pytestmark = pytest.mark.integration

ADMIN_CLAIM = "nexus_roles"


@pytest.fixture(scope="module")
def stack(oidc_provider: OidcProvider) -> Iterator[NexusStack]:
    workdir = TEST_OUTPUT / "hub_config" / "identity_claims"
    shutil.rmtree(workdir, ignore_errors=True)
    st = start_stack(workdir, oidc_provider, env={"NEXUS_OIDC_ADMIN_CLAIM": ADMIN_CLAIM})
    try:
        yield st
    finally:
        st.stop()


def _sign_in(stack: NexusStack, sub: str) -> tuple[httpx.Response, str | None]:
    """Sign `sub` in with a fresh browser: the last page, and who the hub says we are."""
    with httpx.Client(timeout=60) as browser:
        page = stack.provider.login(browser, stack.hub.url, sub)
        me = browser.get(f"{stack.hub.url}/hub/api/user")
        return page, (str(me.json()["name"]) if me.status_code == 200 else None)


def _ids() -> tuple[str, str, str]:
    tag = uuid.uuid4().hex[:6]
    return f"sub-{tag}-1", f"sub-{tag}-2", tag


def test_a_changed_preferred_username_takes_over_nobody(stack: NexusStack) -> None:
    carol_sub, dave_sub, tag = _ids()
    carol, dave = f"carol{tag}", f"dave{tag}"
    stack.provider.set_user(OidcUser(carol_sub, username=carol, groups=["myst-users"]))
    stack.provider.set_user(OidcUser(dave_sub, username=dave, groups=["myst-users"]))
    assert _sign_in(stack, carol_sub)[1] == carol
    assert _sign_in(stack, dave_sub)[1] == dave

    # Dave renames himself to Carol's name at MyST: he does not become Carol.
    stack.provider.set_user(OidcUser(dave_sub, username=carol, groups=["myst-users"]))
    page, who = _sign_in(stack, dave_sub)
    assert who == dave  # still his own account, bound to his subject
    assert page.status_code == 200

    # A new MyST account that arrives with Carol's name is refused, with the reason.
    intruder = f"sub-{tag}-3"
    stack.provider.set_user(OidcUser(intruder, username=carol, groups=["myst-users"]))
    page, who = _sign_in(stack, intruder)
    assert who is None
    assert page.status_code == 403
    assert "belongs to another MyST account" in page.text

    # Carol renames herself: same account, same directories.
    stack.provider.set_user(OidcUser(carol_sub, username=f"caroline{tag}", groups=["myst-users"]))
    assert _sign_in(stack, carol_sub)[1] == carol
    names = {u["name"] for u in stack.hub_admin().get("users").json()}
    assert f"caroline{tag}" not in names


def test_the_display_name_is_kept_apart_from_the_username(stack: NexusStack) -> None:
    sub, _, tag = _ids()
    name = f"erin{tag}"
    stack.provider.set_user(
        OidcUser(sub, username=name, groups=["myst-users"], extra_claims={"name": "Erin O'Hara"})
    )
    assert _sign_in(stack, sub)[1] == name
    user = stack.hub_admin().get(f"users/{name}").json()
    assert user["auth_state"]["subject"] == sub
    assert user["auth_state"]["display_name"] == "Erin O'Hara"


def test_admin_rights_come_only_from_the_providers_admin_claim(stack: NexusStack) -> None:
    mallory_sub, opal_sub, tag = _ids()
    mallory, opal = f"mallory{tag}", f"opal{tag}"
    # A group anyone could create at MyST, named like the admin group, makes no admin.
    stack.provider.set_user(
        OidcUser(mallory_sub, username=mallory, groups=["myst-users", "nexus-admins"])
    )
    assert _sign_in(stack, mallory_sub)[1] == mallory
    hub = stack.hub_admin()
    user = hub.get(f"users/{mallory}").json()
    assert user["admin"] is False
    assert set(user["groups"]) == {"myst-users"}

    roles: dict[str, object] = {ADMIN_CLAIM: ["nexus-admins", "unrelated"]}
    stack.provider.set_user(
        OidcUser(opal_sub, username=opal, groups=["myst-users"], extra_claims=roles)
    )
    assert _sign_in(stack, opal_sub)[1] == opal
    user = hub.get(f"users/{opal}").json()
    assert user["admin"] is True
    assert set(user["groups"]) == {"myst-users", "nexus-admins"}

    # MyST's administrators take the role away: the next sign-in is no longer an admin.
    stack.provider.set_user(OidcUser(opal_sub, username=opal, groups=["myst-users"]))
    assert _sign_in(stack, opal_sub)[1] == opal
    user = hub.get(f"users/{opal}").json()
    assert user["admin"] is False
    assert set(user["groups"]) == {"myst-users"}
