"""A fresh confirmation for the admin console's changes, which a script on the origin cannot give.

Without JupyterHub's `subdomain_host`, user servers (`/user/<name>/`) share the origin of these
pages: a script there can read any page the admin's browser can (so it can read CSRF tokens,
and anything a confirmation page prints) and post any form. What it cannot do is make the
browser send the Fetch Metadata of a person's own action; those are forbidden header names:

- the confirmation page is only served to a top-level navigation (`Sec-Fetch-Mode: navigate`,
  `Sec-Fetch-Dest: document`), never to `fetch()`/XHR (which a script could read) nor in a
  frame (`frame-ancestors 'none'` too);
- the confirming POST must be a user-activated top-level navigation (`Sec-Fetch-User: ?1`,
  i.e. a click on the page's button), carrying a single-use nonce kept in the session (signed
  cookie) with a digest of exactly the action, target and fields shown, for 5 minutes.

Requests with an `Authorization` header are not the browser's ambient session: whoever sends
one holds a token, which the JSON API accepts anyway, so they act at once.
docs/security-hub.md gives the whole argument and what remains (a popup the attacker opens).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping

from fastapi import Request

from ..errors import QuotaError
from .session import session_of

SESSION_KEY = "confirm"
TTL_SECONDS = 300


class ConfirmationRefused(QuotaError):
    status_code = 403
    code = "confirmation_refused"


def by_session(request: Request) -> bool:
    """Signed in by the session cookie (the browser's ambient authority), not a header token."""
    return not request.headers.get("authorization")


def _fetch(request: Request, name: str) -> str:
    return request.headers.get(f"sec-fetch-{name}", "").strip().lower()


def require_top_navigation(request: Request) -> None:
    """Only a page the browser shows at the top level, which no script can read."""
    mode, dest = _fetch(request, "mode"), _fetch(request, "dest")
    if not mode or not dest:
        raise ConfirmationRefused(
            "admin changes need a browser that sends Fetch Metadata (Sec-Fetch-* headers): "
            "use a current Firefox, Chrome, Edge or Safari, or the JSON API with a token"
        )
    if mode != "navigate" or dest != "document":
        raise ConfirmationRefused(
            "admin changes are confirmed on a page of their own: open the console in a tab "
            f"(this request was {mode!r} for a {dest!r})"
        )


def require_click(request: Request) -> None:
    require_top_navigation(request)
    if _fetch(request, "user") != "?1":
        raise ConfirmationRefused(
            "a confirmation must come from a click on its page; open the console and try again"
        )


def digest(action: str, target: int | None, fields: Mapping[str, str], back: str) -> str:
    body = json.dumps(
        {"a": action, "t": target, "f": dict(sorted(fields.items())), "b": back},
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def issue(request: Request, the_digest: str, *, now: float | None = None) -> str:
    """A new nonce for this session (replacing any earlier one), bound to `the_digest`."""
    nonce = secrets.token_urlsafe(24)
    issued = time.time() if now is None else now
    session_of(request)[SESSION_KEY] = {
        "n": nonce,
        "d": the_digest,
        "e": int(issued + TTL_SECONDS),
    }
    return nonce


def consume(request: Request, nonce: str, the_digest: str, *, now: float | None = None) -> None:
    """Use up the session's nonce: it must match, cover these fields, and still be fresh."""
    pending = session_of(request).pop(SESSION_KEY, None)
    current = time.time() if now is None else now
    if not isinstance(pending, dict) or not isinstance(pending.get("n"), str):
        raise ConfirmationRefused(
            "there is no change waiting for confirmation (each one is confirmed once); "
            "start again from the console"
        )
    if not hmac.compare_digest(pending["n"], nonce) or pending.get("d") != the_digest:
        raise ConfirmationRefused(
            "this confirmation is not the one shown last, or its fields were changed; "
            "start again from the console"
        )
    if not isinstance(pending.get("e"), int) or current > pending["e"]:
        raise ConfirmationRefused(
            f"the confirmation expired ({TTL_SECONDS // 60} minutes); start again from the console"
        )
