"""Each person's standing (tier, CPU-hours, storage) as last seen, for the hub's home page.

JupyterHub calls `template_vars` callables synchronously, so the page cannot ask the quota
service itself; the board keeps what the last entitlements answer said (at login, on the spawn
form, at spawn) and the page shows it with a link to the quota service's pages.
"""

from __future__ import annotations

import logging
from typing import Any

from tornado import web

from .quota_client import Entitlements, QuotaUnavailable
from .userdirs import check_username

log = logging.getLogger(__name__)
GIB = 1024**3


def summarize(ent: Entitlements, pages_url: str) -> dict[str, Any]:
    usable = [a for a in ent.allocations if a.status in ("active", "renewal-requested")]
    left = sum(a.cpu_hours_left or 0.0 for a in usable)
    budget = sum(a.cpu_hours_budget or 0.0 for a in usable)
    storage = ent.storage
    if storage.over_hard:
        status = "over the hard quota: servers start in clean-up mode"
    elif storage.over_soft:
        status = "over the soft quota"
    else:
        status = "within quota"
    home = f"{storage.home_bytes / GIB:.1f} GiB"
    if storage.soft_quota_bytes:
        home += f" of {storage.soft_quota_bytes / GIB:.0f} GiB"
    return {
        "tier": ent.tier.capitalize(),
        "cpu_hours_left": f"{left:,.1f}",
        "cpu_hours_budget": f"{budget:,.0f}",
        "home": home,
        "storage_status": status,
        "over_quota": storage.over_soft or storage.over_hard,
        "pages_url": pages_url,
        "request_url": ent.upgrade_url,
    }


class StandingBoard:
    """One per hub (not copied into spawners); a `template_vars` callable."""

    def __init__(self, pages_url: str) -> None:
        self.pages_url = pages_url
        self._by_user: dict[str, dict[str, Any]] = {}

    def __copy__(self) -> StandingBoard:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> StandingBoard:
        return self

    def record(self, ent: Entitlements) -> None:
        self._by_user[ent.username] = summarize(ent, self.pages_url)

    def __call__(self, user: Any) -> dict[str, Any] | None:
        if user is None:
            return None
        return self._by_user.get(user.name, {"pages_url": self.pages_url})


def make_post_auth_hook(hook: Any, board: StandingBoard) -> Any:
    """After sign-in, learn the person's standing so the home page can show it."""

    async def post_auth_hook(
        authenticator: Any, handler: Any, authentication: dict[str, Any]
    ) -> dict[str, Any]:
        refusal = check_username(authentication["name"])
        if refusal is not None:
            # Refused here, with the reason, rather than as a failed spawn later.
            raise web.HTTPError(403, f"This account cannot be used here: {refusal}.")
        try:
            board.record(await hook.client.entitlements(authentication["name"]))
        except QuotaUnavailable as exc:
            log.warning("standing of %s unknown at login: %s", authentication["name"], exc)
        except Exception:
            log.exception("standing of %s unknown at login", authentication["name"])
        return authentication

    return post_auth_hook
