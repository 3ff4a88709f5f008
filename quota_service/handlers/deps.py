"""FastAPI dependencies: the factory and the caller's identity."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ..auth import (
    SCOPE_JOBS,
    SCOPE_SPAWN,
    HubTokenResolver,
    Identity,
    require_access,
    require_admin,
    require_scope,
    require_user,
    token_from_header,
)
from ..errors import NotAuthenticated
from ..factory import Factory


async def get_factory(request: Request) -> Factory:
    # async: a plain `def` dependency costs every request a hop to the thread pool.
    factory: Factory = request.app.state.factory
    return factory


async def get_identity(request: Request) -> Identity:
    cached = getattr(request.state, "identity", None)
    if isinstance(cached, Identity):
        return cached
    token = token_from_header(request.headers.get("authorization"))
    is_api = "/api/v1/" in request.url.path
    if token is None and not is_api:
        # Pages put the signed-in person's hub token in the session (see web/). The JSON API
        # never takes the cookie: its POSTs carry no CSRF token, so it needs a header token.
        session = request.scope.get("session")
        if isinstance(session, dict):
            token = session.get("token")
    if not token:
        raise NotAuthenticated(
            "sign in through JupyterHub, or send a hub API token as 'Authorization: token <token>'"
        )
    resolver: HubTokenResolver = request.app.state.resolver
    identity = await resolver.resolve(token)
    # Every caller's token must be meant for this service (HubAuth's rule), whatever it asks.
    require_access(identity, request.app.state.settings.hub_service_name)
    request.state.identity = identity
    return identity


async def user_identity(identity: Annotated[Identity, Depends(get_identity)]) -> Identity:
    return require_user(identity)


async def admin_identity(identity: Annotated[Identity, Depends(get_identity)]) -> Identity:
    return require_admin(identity)


async def hub_identity(identity: Annotated[Identity, Depends(get_identity)]) -> Identity:
    return require_scope(identity, SCOPE_SPAWN, SCOPE_JOBS)


FactoryDep = Annotated[Factory, Depends(get_factory)]
UserDep = Annotated[Identity, Depends(user_identity)]
AdminDep = Annotated[Identity, Depends(admin_identity)]
HubDep = Annotated[Identity, Depends(hub_identity)]
AnyCallerDep = Annotated[Identity, Depends(get_identity)]
