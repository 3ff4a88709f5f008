"""Server-rendered pages under the service prefix, signed in through JupyterHub OAuth.

`install(app, settings)` adds the session middleware, the static files and the page routes.
It must run after the API routes are added: its last route turns unknown page paths into a
404 page (unknown API paths keep their JSON 404).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.staticfiles import StaticFiles

from ..config import Settings
from ..error_table import error_response
from ..errors import NotFound
from . import admin_pages, collab_pages, pages
from .oauth import OAuthConfig
from .render import PageRoute, error_page

__all__ = ["error_page", "install", "session_secret"]
from .session import SignedSessionMiddleware, Signer

log = logging.getLogger("quota_service.web")
STATIC = Path(__file__).with_name("static")


def session_secret(settings: Settings) -> bytes:
    """`session_secret`, else one derived from the service's hub token, else a random one."""
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value().encode()
    if settings.hub_api_token is not None:
        token = settings.hub_api_token.get_secret_value().encode()
        return hmac.new(token, b"nexus-quota web session", hashlib.sha256).digest()
    log.warning("no session_secret and no hub token: sessions end when the service restarts")
    return secrets.token_bytes(32)


def install(app: FastAPI, settings: Settings) -> None:
    prefix = "/" + settings.base_path.strip("/")
    secret = session_secret(settings)
    app.state.web_oauth = OAuthConfig.from_settings(settings)
    app.state.web_state_signer = Signer(secret, purpose="oauth-state")
    app.add_middleware(SignedSessionMiddleware, secret=secret, path=prefix + "/")
    app.mount(f"{prefix}/static", StaticFiles(directory=STATIC), name="web-static")
    web = APIRouter(prefix=prefix, route_class=PageRoute, include_in_schema=False)
    web.include_router(pages.router)
    web.include_router(admin_pages.router)
    web.include_router(collab_pages.router)

    @web.api_route("/{rest:path}", methods=["GET", "POST"])
    async def not_found(request: Request, rest: str) -> Response:
        if rest.startswith("api/"):
            where = f"{request.method} {request.url.path}"
            return error_response(NotFound(f"no such endpoint: {where}"), where).json()
        return error_page(request, 404, "there is no such page", "not_found")

    app.include_router(web)
