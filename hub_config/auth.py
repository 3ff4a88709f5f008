"""MyST login: oauthenticator's GenericOAuthenticator with OIDC discovery, PKCE, auth_state."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import httpx

from .settings import HubSettings

log = logging.getLogger("hub_config")


class DiscoveryError(RuntimeError):
    """The issuer's discovery document could not be read."""


@dataclass(frozen=True)
class OidcEndpoints:
    authorize_url: str
    token_url: str
    userinfo_url: str


def discover(issuer: str, timeout: float = 10.0, attempts: int = 5) -> OidcEndpoints:
    """Read `<issuer>/.well-known/openid-configuration` (retrying while the issuer starts)."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    last = ""
    for attempt in range(attempts):
        try:
            resp = httpx.get(url, timeout=timeout, follow_redirects=True)
            resp.raise_for_status()
            doc = resp.json()
            return OidcEndpoints(
                authorize_url=str(doc["authorization_endpoint"]),
                token_url=str(doc["token_endpoint"]),
                userinfo_url=str(doc["userinfo_endpoint"]),
            )
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            last = repr(exc)
            if attempt + 1 < attempts:
                time.sleep(min(2.0**attempt, 10.0))
    raise DiscoveryError(f"cannot read the OIDC discovery document {url}: {last}")


def endpoints(settings: HubSettings) -> OidcEndpoints:
    """Explicit endpoint URLs win; otherwise discovery from the issuer."""
    if settings.oidc_authorize_url and settings.oidc_token_url and settings.oidc_userinfo_url:
        return OidcEndpoints(
            settings.oidc_authorize_url, settings.oidc_token_url, settings.oidc_userinfo_url
        )
    if not settings.oidc_issuer:
        raise DiscoveryError(
            "set NEXUS_OIDC_ISSUER, or all of NEXUS_OIDC_AUTHORIZE_URL, NEXUS_OIDC_TOKEN_URL "
            "and NEXUS_OIDC_USERINFO_URL"
        )
    return discover(settings.oidc_issuer, timeout=settings.oidc_discovery_timeout_seconds)


def configure_authenticator(c: Any, settings: HubSettings) -> None:
    """Configure GenericOAuthenticator for MyST (or its local stand-in)."""
    ep = endpoints(settings)
    # GenericOAuthenticator with the username bound to the subject claim and admin groups
    # only from a provider-controlled claim (hub_config/identity.py).
    c.JupyterHub.authenticator_class = "hub_config.identity.NexusOAuthenticator"
    a = c.GenericOAuthenticator
    a.login_service = settings.oidc_login_service
    a.authorize_url = ep.authorize_url
    a.token_url = ep.token_url
    a.userdata_url = ep.userinfo_url
    a.client_id = settings.oidc_client_id
    if settings.oidc_client_secret is not None:
        a.client_secret = settings.oidc_client_secret.get_secret_value()
    if settings.oidc_callback_url:
        a.oauth_callback_url = settings.oidc_callback_url
    a.scope = list(settings.oidc_scopes)
    a.username_claim = settings.oidc_username_claim
    n = c.NexusOAuthenticator
    n.subject_claim = settings.oidc_subject_claim
    n.display_name_claim = settings.oidc_display_name_claim
    n.admin_claim = settings.oidc_admin_claim
    if settings.admin_groups and not settings.oidc_admin_claim:
        log.warning(
            "admin_groups %s are never taken from the groups claim: set oidc_admin_claim to a "
            "claim MyST's administrators control, or no group makes an admin",
            settings.admin_groups,
        )
    a.enable_pkce = True
    a.enable_auth_state = True
    a.manage_groups = True
    a.auth_state_groups_key = f"oauth_user.{settings.oidc_groups_claim}"
    if settings.allowed_groups:
        a.allowed_groups = set(settings.allowed_groups)
    else:
        # Entry needs no paperwork: anyone with a MyST account may sign in.
        a.allow_all = True
    if settings.admin_groups:
        a.admin_groups = set(settings.admin_groups)
    if settings.admin_users:
        a.admin_users = set(settings.admin_users)
    if not os.environ.get("JUPYTERHUB_CRYPT_KEY") and not c.CryptKeeper.get("keys"):
        raise RuntimeError(
            "JUPYTERHUB_CRYPT_KEY (or CryptKeeper.keys) must be set: auth_state, which holds "
            "the MyST tokens, is stored encrypted"
        )
