"""Rendering pages: the Jinja environment, error pages, sign-in redirects and form errors."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from ..auth import Identity
from ..error_table import error_response
from ..errors import NotAuthenticated, PermissionDenied, QuotaError
from ..handlers.deps import get_identity
from .session import CSRF_FIELD, csrf_ok, csrf_token, session_of

log = logging.getLogger("quota_service.web")
TEMPLATES = Path(__file__).with_name("templates")

GIB = 1024**3


def _gib(value: float | int | None) -> str:
    if value is None:
        return "—"
    gib = value / GIB
    return f"{gib:,.2f} GiB" if gib < 100 else f"{gib:,.0f} GiB"


def _hours(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}"


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _day(value: Any) -> str:
    if value is None:
        return "—"
    return str(value.strftime("%Y-%m-%d"))


env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html", "svg"], default_for_string=True, default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters.update(gib=_gib, hours=_hours, when=_when, day=_day)


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class CsrfFailed(QuotaError):
    status_code = 403
    code = "csrf_failed"


def base_path(request: Request) -> str:
    return str(request.app.state.settings.prefix)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    base = base_path(request)
    session = session_of(request)
    flash = session.pop("flash", None)
    identity = getattr(request.state, "identity", None)
    ctx: dict[str, Any] = {
        "base": base,
        "static": base + "static/",
        "viewer": identity if isinstance(identity, Identity) else None,
        "csrf_field": CSRF_FIELD,
        "csrf": csrf_token(request),
        "flash": flash if isinstance(flash, str) else None,
        "signed_in_by_session": bool(session.get("token")),
        "path": request.url.path,
    }
    ctx.update(context or {})
    html = env.get_template(template).render(ctx)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


# Every page response, redirects and errors included. No page is ever framed: user servers can
# share this origin (no subdomain_host), and a frame is how their scripts would click for a
# person (frame-ancestors for current browsers, X-Frame-Options for the rest). COOP keeps
# a popup's opener from scripting these pages unless it chose the same policy.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        if name not in response.headers:
            response.headers[name] = value
    return response


def flash(request: Request, message: str) -> None:
    session_of(request)["flash"] = message


def error_page(request: Request, status: int, detail: str, code: str) -> HTMLResponse:
    titles = {
        400: "Bad request",
        403: "Not allowed",
        404: "Not found",
        409: "Conflict",
        422: "Check the form",
        500: "Something went wrong",
        503: "Temporarily unavailable",
    }
    return render(
        request,
        "error.html",
        {"status": status, "title": titles.get(status, "Error"), "detail": detail, "code": code},
        status_code=status,
    )


def login_redirect(request: Request, next_url: str) -> RedirectResponse:
    target = base_path(request) + "login?next=" + quote(next_url, safe="/")
    return RedirectResponse(target, status_code=303 if request.method != "GET" else 302)


Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]


class PageRoute(APIRoute):
    """A route whose failures are HTML pages with the right status, never a traceback or JSON."""

    def get_route_handler(self) -> Endpoint:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            return secure(await guarded(request))

        async def guarded(request: Request) -> Response:
            try:
                return await original(request)
            except LoginRequired as exc:
                return login_redirect(request, exc.next_url)
            except NotAuthenticated:
                session_of(request).pop("token", None)
                return login_redirect(request, _here(request))
            except RequestValidationError:
                # A URL whose parts do not parse (an id out of range) names no page.
                return error_page(request, 404, "there is no such page", "not_found")
            except Exception as exc:
                # Everything else as the JSON API answers it: the same status and code.
                err = error_response(exc, f"{request.method} {request.url.path}")
                page = error_page(request, err.status, err.detail, err.code)
                page.headers.update(err.headers)
                return page

        return handler


def _here(request: Request) -> str:
    path = request.url.path
    return path + ("?" + request.url.query if request.url.query and request.method == "GET" else "")


async def page_identity(request: Request) -> Identity:
    """The signed-in person; pages send everyone else to sign in (the API answers 401)."""
    session = session_of(request)
    if not request.headers.get("authorization") and not session.get("token"):
        raise LoginRequired(_here(request))
    identity = await get_identity(request)
    if not identity.is_user:
        raise PermissionDenied("these pages are for people; sign in as a user")
    return identity


async def form_data(request: Request) -> dict[str, str]:
    """The posted form as plain strings, after the CSRF check."""
    form = await request.form()
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    if not csrf_ok(request, data.pop(CSRF_FIELD, None)):
        raise CsrfFailed(
            "the form's security token is missing or out of date; reload the page and try again"
        )
    return data


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Pydantic errors by field name, in words a person can act on."""
    out: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        name = loc[0] if loc else "__form__"
        msg = str(err.get("msg", "invalid value"))
        msg = msg.removeprefix("Value error, ")
        out.setdefault(name, msg)
    return out


def clean(data: dict[str, str], fields: tuple[str, ...]) -> dict[str, str]:
    """Only the named fields, with empty strings dropped (optional fields left blank)."""
    return {k: v.strip() for k, v in data.items() if k in fields and v.strip() != ""}
