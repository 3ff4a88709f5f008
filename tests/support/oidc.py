"""A real OIDC provider process (the `oidc-provider-mock` package) standing in for MyST.

    proc, provider = start_oidc(log_path, users=DEFAULT_USERS)
    provider.issuer                       # discovery at <issuer>/.well-known/openid-configuration
    provider.set_user(OidcUser("zoe", groups=["myst-users"]))   # add or change a user live
    provider.login(client, hub_url, "rosa")                     # sign in through the hub

The provider accepts any client id and secret and shows a form where a "subject" is typed; the
`login` helper posts that form like a person would, following the redirects through the hub's
OAuth callback, so the `httpx.Client` ends up holding the hub's login cookie.

The `oidc_provider` fixture (session scope) runs one provider with `DEFAULT_USERS`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from .processes import TEST_OUTPUT, ServerProcess, free_port


@dataclass(frozen=True)
class OidcUser:
    """A MyST account: `sub` is also its `preferred_username` unless `username` is given."""

    sub: str
    groups: Sequence[str] = ()
    username: str | None = None
    email: str | None = None
    extra_claims: dict[str, object] = field(default_factory=dict)

    def claims(self, groups_claim: str = "groups") -> dict[str, object]:
        return {
            "preferred_username": self.username or self.sub,
            "email": self.email or f"{self.sub}@example.org",
            "name": (self.username or self.sub).title(),
            groups_claim: list(self.groups),
            **self.extra_claims,
        }


# Preset accounts: an Entry user, a Research user, an admin (by group), one outside the
# allowed groups.
ENTRY_USER = OidcUser("ellen", groups=["myst-users"])
RESEARCH_USER = OidcUser("rosa", groups=["myst-users", "roman-research"])
# Admin rights come from a claim only the provider's administrators set (NEXUS_OIDC_ADMIN_CLAIM).
ADMIN_USER = OidcUser(
    "ada", groups=["myst-users", "nexus-admins"], extra_claims={"nexus_roles": ["nexus-admins"]}
)
OUTSIDER = OidcUser("oscar", groups=["other-project"])
DEFAULT_USERS = (ENTRY_USER, RESEARCH_USER, ADMIN_USER, OUTSIDER)


@dataclass
class OidcProvider:
    issuer: str
    groups_claim: str = "groups"
    log_path: Path | None = None

    @property
    def discovery_url(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"

    def set_user(self, user: OidcUser) -> None:
        """Create or replace an account (the provider's `PUT /users/<sub>`)."""
        resp = httpx.put(
            f"{self.issuer}/users/{user.sub}", json=user.claims(self.groups_claim), timeout=10
        )
        resp.raise_for_status()

    def login(
        self, client: httpx.Client, hub_url: str, sub: str, next_path: str = ""
    ) -> httpx.Response:
        """Sign `sub` in to the hub at `hub_url` through this provider.

        Returns the last response after the redirects (the hub's page, or its 403 page when
        the account is not allowed).
        """
        start = urljoin(hub_url.rstrip("/") + "/", "hub/oauth_login")
        if next_path:
            start += f"?next={next_path}"
        resp = client.get(start, follow_redirects=True)
        if not str(resp.url).startswith(self.issuer):
            raise AssertionError(f"the hub did not send us to the provider: {resp.url}")
        resp.raise_for_status()
        # The provider's form posts back to the same authorize URL (query string included).
        return client.post(
            str(resp.url), data={"sub": sub, "action": "authorize"}, follow_redirects=True
        )


def start_oidc(
    log_path: Path,
    users: Sequence[OidcUser] = DEFAULT_USERS,
    groups_claim: str = "groups",
    port: int | None = None,
) -> tuple[ServerProcess, OidcProvider]:
    port = port or free_port()
    argv = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)]
    for user in users:
        argv += ["--user-claims", json.dumps({"sub": user.sub, **user.claims(groups_claim)})]
    proc = ServerProcess(name="oidc-provider-mock", argv=argv, log_path=log_path).start()
    provider = OidcProvider(
        issuer=f"http://127.0.0.1:{port}", groups_claim=groups_claim, log_path=log_path
    )
    proc.wait_http(provider.discovery_url, timeout=60)
    return proc, provider


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    """One MyST stand-in for the test session, with `DEFAULT_USERS`."""
    proc, provider = start_oidc(TEST_OUTPUT / "logs" / "oidc-provider.log")
    try:
        yield provider
    finally:
        proc.stop()
