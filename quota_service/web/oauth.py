"""Sign-in through JupyterHub's OAuth2 provider (authorization-code flow).

1. `GET <base>login?next=…` stores a random `state` (and where to go next) in a short-lived signed
   cookie and sends the browser to `<hub>/hub/api/oauth2/authorize`.
2. The hub sends the browser back to `<base>oauth_callback?code=…&state=…`. The state must match
   the cookie (this stops login CSRF); the code is exchanged, server to server, at
   `<hub_api_url>/oauth2/token` with the service's client id and secret (JupyterHub makes a
   service's OAuth client secret its API token).
3. The access token goes into the encrypted session; `get_identity` resolves it like any hub
   token. Its scopes are what the service's `oauth_client_allowed_scopes` allow and the person
   holds: `custom:nexus-quota:admin` for quota admins (hub_config/services.py).
4. `POST <base>logout` clears the session, drops the token's cached identity and sends the
   browser to `<hub>/hub/logout`, which deletes the hub session's tokens, this one included.

Where the browser goes: `hub_host` + `hub_base_url` (`JUPYTERHUB_HOST`, `JUPYTERHUB_BASE_URL`)
when the hub runs the service, else `public_url`, else the same origin (`/hub/…`), which is right
behind the hub's proxy. Every value comes from `Settings` (quota_service/config.py).
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from ..config import Settings

log = logging.getLogger("quota_service.web")

STATE_COOKIE = "nexus-quota-oauth-state"
STATE_MAX_AGE = 600


class OAuthError(Exception):
    """The sign-in could not be completed; the message says why, for a person."""


@dataclass(frozen=True)
class OAuthConfig:
    client_id: str
    client_secret: str | None
    authorize_url: str
    token_url: str
    redirect_uri: str
    scopes: tuple[str, ...] = ()
    logout_url: str = "/hub/logout"

    @classmethod
    def from_settings(cls, settings: Settings) -> OAuthConfig:
        base_path = settings.prefix
        if settings.hub_base_url:
            hub_root = settings.hub_host + settings.hub_base_url
        elif settings.public_url:
            hub_root = settings.public_url
        else:
            hub_root = "/"
        hub_root = hub_root.rstrip("/") + "/"
        scopes: tuple[str, ...] = ()
        if settings.oauth_scopes:
            try:
                parsed = json.loads(settings.oauth_scopes)
                scopes = tuple(str(s) for s in parsed) if isinstance(parsed, list) else ()
            except ValueError:
                log.warning("ignoring JUPYTERHUB_OAUTH_SCOPES: not a JSON list")
        secret = settings.hub_api_token.get_secret_value() if settings.hub_api_token else None
        return cls(
            client_id=settings.oauth_client_id,
            client_secret=secret,
            authorize_url=hub_root + "hub/api/oauth2/authorize",
            token_url=settings.hub_api_url.rstrip("/") + "/oauth2/token",
            redirect_uri=settings.oauth_callback_url or base_path + "oauth_callback",
            scopes=scopes,
            logout_url=hub_root + "hub/logout",
        )

    def authorize_redirect(self, state: str) -> str:
        params = {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "state": state,
        }
        if self.scopes:
            params["scope"] = " ".join(self.scopes)
        return f"{self.authorize_url}?{urlencode(params)}"

    async def exchange(self, code: str, client: httpx.AsyncClient) -> str:
        """Trade an authorization code for an access token."""
        if not self.client_secret:
            raise OAuthError("the quota service has no hub API token, so it cannot sign you in")
        try:
            resp = await client.post(
                self.token_url,
                data={
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": self.redirect_uri,
                },
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise OAuthError(f"cannot reach JupyterHub to finish signing in ({exc})") from None
        if resp.status_code != 200:
            log.warning("token exchange refused: %s %s", resp.status_code, resp.text[:300])
            raise OAuthError("JupyterHub refused the sign-in code; please sign in again")
        try:
            token = resp.json().get("access_token")
        except ValueError:
            token = None
        if not isinstance(token, str) or not token:
            raise OAuthError("JupyterHub answered without an access token")
        return token


def new_state() -> str:
    return secrets.token_urlsafe(24)


def safe_next(target: str | None, base_path: str) -> str:
    """Only paths inside this service; anything else (other hosts, `//x`) goes home."""
    if (
        target
        and target.startswith(base_path)
        and not target.startswith("//")
        and "\\" not in target
        and "\n" not in target
        and "\r" not in target
    ):
        return target
    return base_path
