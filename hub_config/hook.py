"""The quota spawner hooks: ask the quota service before a spawn, close the session after a stop."""

from __future__ import annotations

import dataclasses
import html
import time
from typing import Any, Self

from prometheus_client import Counter
from tornado import web
from traitlets import Any as AnyTrait
from traitlets import Dict, Enum, Float, Instance, Unicode, default
from traitlets.config import LoggingConfigurable

from . import builders, collab
from .apply import StorageApplier
from .names import ENV_PREFIX
from .quota_client import (
    QuotaClient,
    QuotaRequestError,
    QuotaUnavailable,
    RestoreStatus,
    SpawnDenied,
)
from .restore_wait import RESTORING, RestoreProgress, wait_for_restore
from .server_names import check_server_name, refusal_message
from .settings import SECRET_FIELDS, FallbackSize, HubSettings, load_settings

QUOTA_UNREACHABLE = Counter(
    "nexus_quota_unreachable_total",
    "Calls to the quota service that failed (transport error or 5xx), by operation and fail mode",
    ["operation", "fail_mode"],
)
SPAWN_DECISIONS = Counter(
    "nexus_spawn_decisions_total",
    "Spawn decisions applied by the hub, by outcome",
    ["outcome"],
)

UNREACHABLE_MESSAGE = (
    "The quota service that decides server sizes cannot be reached right now, so no server "
    "can be started. Please try again in a few minutes; if this persists, contact the "
    "platform administrators."
)


class SpawnRefused(web.HTTPError):
    """A spawn the hub refuses; `jupyterhub_message`/`_html_message` are shown on the spawn page."""

    def __init__(self, status: int, message: str, html_message: str | None = None) -> None:
        super().__init__(status, message)
        self.jupyterhub_message = message
        if html_message is not None:
            self.jupyterhub_html_message = html_message


def denial_error(denied: SpawnDenied) -> SpawnRefused:
    """The error a person sees: the service's message, limit, usage, reset and upgrade link."""
    parts = [f"<p>{html.escape(denied.message)}</p>"]
    details = []
    if denied.limit is not None:
        details.append(f"<li>Limit: {denied.limit:g}</li>")
    if denied.used is not None:
        details.append(f"<li>Used: {denied.used:g}</li>")
    if denied.resets_at is not None:
        details.append(f"<li>Resets: {denied.resets_at.date().isoformat()}</li>")
    if details:
        parts.append("<ul>" + "".join(details) + "</ul>")
    if denied.upgrade_url:
        url = html.escape(denied.upgrade_url, quote=True)
        parts.append(f'<p><a href="{url}">Request an upgrade</a></p>')
    return SpawnRefused(403, denied.message, "".join(parts))


class Shared:
    """Not copied by traitlets: config values are deep-copied into every Spawner, and these
    objects (one HTTP client, one notice board) must stay one per hub."""

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self


class NoticeBoard(Shared):
    """Notices per user shown on the hub's home and spawn pages (cleanup mode, fail-open)."""

    def __init__(self) -> None:
        self._notices: dict[str, dict[str, str]] = {}

    def set(self, username: str, server_name: str, notice: str | None) -> None:
        servers = self._notices.setdefault(username, {})
        if notice:
            servers[server_name] = notice
        else:
            servers.pop(server_name, None)

    def get(self, username: str) -> list[str]:
        return list(self._notices.get(username, {}).values())

    def announcement(self, user: Any) -> str:
        """A `template_vars` callable: HTML for `announcement_home`/`announcement_spawn`."""
        if user is None:
            return ""
        return "<br>".join(html.escape(n) for n in self.get(user.name))


def _from_setting(name: str) -> str:
    """A trait's help: the description of the setting it defaults to, and its names."""
    field = HubSettings.model_fields[name]
    where = "" if name in SECRET_FIELDS else f" or custom.nexus.{name}"
    return f"{field.description}. Default: the setting {name} (${ENV_PREFIX}{name.upper()}{where})."


class QuotaSpawnHook(Shared, LoggingConfigurable):
    """`pre_spawn_hook` and `post_stop_hook` backed by the quota service's `hub/` API."""

    settings = Instance(
        HubSettings,
        help="The hub settings (hub_config.settings) the traits below default to; loaded "
        "from the environment when not given. hub_config passes the hub's own.",
    )

    @default("settings")
    def _settings_default(self) -> HubSettings:
        return load_settings()

    # Each trait's default is its setting: one declaration (and one environment name) each.
    quota_url = Unicode(help=_from_setting("quota_url")).tag(config=True)

    @default("quota_url")
    def _quota_url_default(self) -> str:
        return self.settings.quota_url

    api_token = Unicode(help=_from_setting("quota_hook_token")).tag(config=True)

    @default("api_token")
    def _api_token_default(self) -> str:
        token = self.settings.quota_hook_token
        return "" if token is None else token.get_secret_value()

    fail_mode = Enum(["open", "closed"], help=_from_setting("quota_fail_mode")).tag(config=True)

    @default("fail_mode")
    def _fail_mode_default(self) -> str:
        return self.settings.quota_fail_mode

    timeout = Float(help=_from_setting("quota_timeout_seconds")).tag(config=True)

    @default("timeout")
    def _timeout_default(self) -> float:
        return self.settings.quota_timeout_seconds

    restore_timeout = Float(help=_from_setting("restore_timeout_seconds")).tag(config=True)

    @default("restore_timeout")
    def _restore_timeout_default(self) -> float:
        return self.settings.restore_timeout_seconds

    restore_poll_seconds = Float(
        1.0, help="Seconds between polls of a running restore's status."
    ).tag(config=True)

    quota_public_path = Unicode(help=_from_setting("quota_public_path")).tag(config=True)

    @default("quota_public_path")
    def _quota_public_path_default(self) -> str:
        return self.settings.quota_public_path

    fallback_size = Dict(
        help=_from_setting("fallback_size") + " Keys of hub_config.settings.FallbackSize."
    ).tag(config=True)

    @default("fallback_size")
    def _fallback_size_default(self) -> dict[str, Any]:
        return self.settings.fallback_size.model_dump(mode="json")

    storage: StorageApplier | None = AnyTrait(  # type: ignore[assignment]
        None,
        allow_none=True,
        help="Applies limits, volumes and environment to the spawner (Kube or local).",
    )
    notices = Instance(NoticeBoard, args=(), help="Notices shown on the hub pages.")

    _client: QuotaClient | None = None

    @property
    def client(self) -> QuotaClient:
        """The one shared client (created on first use, inside the hub's event loop)."""
        if self._client is None:
            self._client = QuotaClient(self.quota_url, self.api_token, timeout=self.timeout)
        return self._client

    @property
    def fallback(self) -> FallbackSize:
        return FallbackSize(**self.fallback_size)

    def unreachable(self, operation: str, exc: Exception) -> None:
        QUOTA_UNREACHABLE.labels(operation=operation, fail_mode=self.fail_mode).inc()
        self.log.error("quota service unreachable during %s: %s", operation, exc)

    async def pre_spawn_hook(self, spawner: Any) -> None:
        started = time.perf_counter()
        # Installed first, so a spawn page that connects while the hook waits sees its messages.
        progress = RestoreProgress()
        progress.install(spawner)
        try:
            await self._pre_spawn(spawner, progress)
        finally:
            progress.uninstall(spawner)
        self.log.info(
            "quota spawn hook for %s/%r took %.1f ms",
            spawner.user.name,
            spawner.name or "",
            (time.perf_counter() - started) * 1000,
        )

    async def _pre_spawn(self, spawner: Any, progress: RestoreProgress) -> None:
        username = spawner.user.name
        server_name = spawner.name or ""
        refusal = check_server_name(server_name)
        if refusal is not None:  # the spawn form's POST: JupyterHub did not ask (named_servers)
            raise SpawnRefused(400, refusal_message(server_name, refusal))
        options = spawner.user_options or {}
        size = options.get("profile")
        allocation = options.get("allocation")
        chosen = options.get("release")
        release = str(chosen) if chosen not in (None, "") else None
        try:
            allocation_id = int(allocation) if allocation not in (None, "") else None
        except (TypeError, ValueError):
            raise SpawnRefused(400, f"{allocation!r} is not an allocation id.") from None
        try:
            if not size:
                size = await self._default_size(username)
            decision = await self.client.spawn_decision(
                username, server_name, str(size), allocation_id, release
            )
        except QuotaUnavailable as exc:
            self.unreachable("spawn", exc)
            if self.fail_mode == "closed":
                SPAWN_DECISIONS.labels(outcome="unreachable_closed").inc()
                raise SpawnRefused(503, UNREACHABLE_MESSAGE) from None
            SPAWN_DECISIONS.labels(outcome="unreachable_open").inc()
            plan = builders.fail_open_plan(username, server_name, self.fallback)
            self.log.warning(
                "fail-open: starting %s's server %r with the %s size",
                username,
                server_name,
                plan.size.name,
            )
        except QuotaRequestError as exc:
            SPAWN_DECISIONS.labels(outcome="invalid").inc()
            raise SpawnRefused(400, f"This server cannot be started: {exc.detail}") from None
        else:
            if isinstance(decision, SpawnDenied):
                SPAWN_DECISIONS.labels(outcome=f"denied_{decision.code}").inc()
                self.log.info(
                    "quota denied %s's server %r (%s): %s",
                    username,
                    server_name,
                    decision.code,
                    decision.message,
                )
                raise denial_error(decision)
            SPAWN_DECISIONS.labels(outcome="cleanup" if decision.cleanup_mode else "allowed").inc()
            plan = builders.plan_from_decision(username, server_name, decision)
            if decision.restore is not None:
                plan = await self._await_restore(plan, decision.restore, progress)
        self.notices.set(username, server_name, plan.notice)
        if self.storage is not None:
            self.storage.apply(spawner, plan)
        collab.apply_rtc(spawner)

    async def _await_restore(
        self, plan: builders.SpawnPlan, restore: RestoreStatus, progress: RestoreProgress
    ) -> builders.SpawnPlan:
        """Wait (past the decision's timeout) for the restore of the person's home."""
        self.notices.set(plan.username, plan.server_name, RESTORING)
        message = await wait_for_restore(
            self.client,
            plan.username,
            restore,
            wait_seconds=self.restore_timeout,
            interval=self.restore_poll_seconds,
            progress=progress,
            log=self.log,
        )
        notice = " ".join(n for n in (plan.notice, message) if n)
        return dataclasses.replace(plan, notice=notice)

    async def _default_size(self, username: str) -> str:
        """The size for a spawn without a choice (REST API): the first one offered."""
        ent = await self.client.entitlements(username)
        if not ent.sizes:
            raise SpawnRefused(403, "None of your allocations allows a server right now.")
        return ent.sizes[0].name

    async def post_stop_hook(self, spawner: Any) -> None:
        username = spawner.user.name
        server_name = spawner.name or ""
        self.notices.set(username, server_name, None)
        try:
            result = await self.client.stop_sessions(username, server_name)
        except QuotaUnavailable as exc:
            # The reconciler closes the session later from the hub's list of servers.
            self.unreachable("stop", exc)
            return
        except QuotaRequestError as exc:
            self.log.error("quota service refused to close %s/%r: %s", username, server_name, exc)
            return
        for closed in result.closed:
            self.log.info(
                "closed quota session %s of %s/%r: %.4f CPU-hours",
                closed.session_id,
                username,
                server_name,
                closed.cpu_hours,
            )

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
