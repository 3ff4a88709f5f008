"""The FastAPI application: routers under the service prefix, errors as `{detail, code}`."""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Receive, Scope, Send

from . import __version__, db, web
from .auth import HubTokenResolver
from .config import Settings, load_settings
from .db import ensure_current
from .edge import EdgeMiddleware
from .error_table import TABLE, error_response
from .factory import Factory
from .handlers import admin, collab, consortia, hub, me, ops
from .handlers.deps import AnyCallerDep
from .metrics import ERRORS, REQUEST_LATENCY, StorageCollector
from .services.reports import StorageSummary

log = logging.getLogger("quota_service")


def install_error_handlers(app: FastAPI) -> None:
    """Every error as `{detail, code}` with its status, from the one table (error_table.py)."""

    async def _handle(request: Request, exc: Exception) -> Response:
        err = error_response(exc, f"{request.method} {request.url.path}")
        ERRORS.labels(code=err.code).inc()
        return err.json()

    for kind, _build in TABLE:
        app.add_exception_handler(kind, _handle)


class RequestTimingMiddleware:
    """Observes each request's latency by route (plain ASGI: no task per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            route: Any = scope.get("route")
            name = getattr(route, "path", "unmatched")
            REQUEST_LATENCY.labels(route=name, method=scope["method"]).observe(
                time.perf_counter() - start
            )


def metrics_registry() -> CollectorRegistry:
    """This process's metrics, or, under `serve --workers N`, all the workers' added up."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def _storage_summary(factory: Factory) -> StorageSummary:
    with factory.unit_of_work() as svc:
        return svc.reports.storage_summary()


def create_app(
    settings: Settings | None = None,
    *,
    factory: Factory | None = None,
    resolver: HubTokenResolver | None = None,
) -> FastAPI:
    settings = settings or load_settings()
    factory = factory or Factory(settings)
    if settings.fail_on_stale_schema:
        ensure_current(factory.engine)
    if os.environ.get(db.LOOP_GUARD_ENV, "") not in ("", "0"):
        db.forbid_on_event_loop(factory.engine)
    resolver = resolver or HubTokenResolver(
        settings.hub_api_url,
        cache_seconds=settings.token_cache_seconds,
        negative_cache_seconds=settings.token_negative_cache_seconds,
        admin_groups=frozenset(settings.admin_groups),
    )
    prefix = "/" + settings.base_path.strip("/")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # What start-up built (modules, the app, the policy) lives as long as the process:
        # keep it out of the collector's full passes, each of which would otherwise walk it
        # all and stall every request in flight (measured: 100-150 ms).
        gc.collect()
        gc.freeze()
        yield
        await resolver.aclose()
        await factory.dispose_async()

    app = FastAPI(
        title="Roman Research Nexus quota service",
        version=__version__,
        # No docs UI (FastAPI's loads its scripts from a CDN, on the hub's origin); the
        # OpenAPI document only for callers with a token for this service (below).
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.factory = factory
    app.state.resolver = resolver
    install_error_handlers(app)

    api = APIRouter(prefix=f"{prefix}/api/v1")
    for module in (hub, me, admin, consortia, collab, ops):
        api.include_router(module.router)

    @api.get("/openapi.json", include_in_schema=False)
    async def openapi(caller: AnyCallerDep) -> JSONResponse:
        return JSONResponse(app.openapi())

    app.include_router(api)

    # Storage gauges come from the database (what the scan CronJob stored), per scrape.
    storage_metrics = CollectorRegistry(auto_describe=False)
    storage_metrics.register(StorageCollector(lambda: _storage_summary(factory)))

    @app.get(f"{prefix}/metrics", include_in_schema=False)
    def metrics() -> Response:
        body = generate_latest(metrics_registry()) + generate_latest(storage_metrics)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(RequestTimingMiddleware)
    # Body limits, authentication before bodies, rate limits, /metrics for the scraper only.
    # Inside the session middleware (web.install adds it last, outermost): pages' tokens.
    app.add_middleware(
        EdgeMiddleware, settings=settings, resolver=resolver, page_error=web.error_page
    )

    # Pages for people (web/): session middleware, static files, routes; after the API routes.
    web.install(app, settings)
    return app
