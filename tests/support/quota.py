"""A real quota service process (`nexus-quota serve`) behind a real JupyterHub for tokens.

stack = QuotaStack.start(workdir, db_url)        # token hub + migrated quota service
stack.api(stack.user_token("alice"))              # httpx client for /services/quota/api/v1/
stack.api(stack.hook_token)                       # as the hub's spawner hook
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import httpx

from dev.envs import hub_services_env, quota_env
from dev.settings import QUOTA_PREFIX, local_url, new_secrets
from quota_service import db

from .hub import HubInstance, start_hub
from .processes import ServerProcess, free_port

QUOTA_HUB_CONFIG = Path(__file__).with_name("quota_hub_config.py")
PREFIX = QUOTA_PREFIX


def start_quota_service(
    workdir: Path,
    db_url: str,
    *,
    port: int,
    hub_api_url: str,
    token: str,
    env: dict[str, str] | None = None,
) -> ServerProcess:
    """Migrate `db_url`, then run `nexus-quota serve` on `port` until its health answers."""
    db.upgrade(db_url)
    proc = ServerProcess(
        name="nexus-quota",
        argv=[sys.executable, "-m", "quota_service.cli.main", "serve", "--port", str(port)],
        log_path=workdir / "quota-service.log",
        env={
            **quota_env(db_url=db_url, hub_api_url=hub_api_url, token=token),
            # A synchronous transaction on the event loop's thread raises: tests find any.
            "NEXUS_QUOTA_LOOP_GUARD": "1",
            **(env or {}),
        },
    ).start()
    try:
        proc.wait_http(f"http://127.0.0.1:{port}{PREFIX}api/v1/health", timeout=60)
    except Exception:
        proc.stop()
        raise
    return proc


def token_hub_env(secrets: Mapping[str, str], quota_url: str) -> dict[str, str]:
    """What QUOTA_HUB_CONFIG reads besides the hub's process environment."""
    return {
        **hub_services_env(quota_url=quota_url, secrets=secrets),
        "NEXUS_CULL_ENABLED": "false",
        "TEST_ADMIN_TOKEN": secrets["admin_token"],
    }


def start_token_hub(
    workdir: Path, secrets: Mapping[str, str], quota_url: str, extra_config: str = ""
) -> HubInstance:
    """A hub with hub_config's services and roles (tests/support/quota_hub_config.py), their
    tokens from `secrets`; `secrets["admin_token"]` is the test-admin service's."""
    return start_hub(
        workdir,
        secrets=secrets,
        base_config=QUOTA_HUB_CONFIG,
        extra_config=extra_config,
        env=token_hub_env(secrets, quota_url),
    )


@dataclass
class QuotaStack:
    hub: HubInstance
    proc: ServerProcess
    url: str
    admin_service_token: str
    hook_token: str
    jobs_token: str
    quota_token: str
    db_url: str = ""
    _tokens: dict[str, str] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"{self.url}{PREFIX}api/v1/"

    def api(self, token: str | None, timeout: float = 30.0) -> httpx.Client:
        headers = {"Authorization": f"token {token}"} if token else {}
        return httpx.Client(base_url=self.api_url, headers=headers, timeout=timeout)

    def user_token(self, name: str, *, admin: bool = False) -> str:
        """Create the hub user if needed and return an API token of theirs."""
        if name in self._tokens:
            return self._tokens[name]
        with self.hub.api(self.admin_service_token) as hub:
            resp = hub.post(f"users/{name}", json={"admin": admin})
            if resp.status_code not in (201, 409):
                resp.raise_for_status()
            if admin and resp.status_code == 409:
                hub.patch(f"users/{name}", json={"admin": True}).raise_for_status()
            token = hub.post(f"users/{name}/tokens", json={"note": "tests"})
            token.raise_for_status()
        self._tokens[name] = str(token.json()["token"])
        return self._tokens[name]

    @classmethod
    def start(
        cls,
        workdir: Path,
        db_url: str,
        *,
        env: dict[str, str] | None = None,
        extra_hub_config: str = "",
    ) -> Self:
        """A token hub (`start_token_hub` + `extra_hub_config`) and the service."""
        secrets = new_secrets()
        port = free_port()
        url = local_url(port)
        hub = start_token_hub(
            workdir / "hub", secrets, local_url(port, PREFIX), extra_config=extra_hub_config
        )
        try:
            proc = start_quota_service(
                workdir,
                db_url,
                port=port,
                hub_api_url=hub.api_url,
                token=secrets["quota_service_token"],
                env=env,
            )
        except Exception:
            hub.stop()
            raise
        return cls(
            hub=hub,
            proc=proc,
            url=url,
            admin_service_token=secrets["admin_token"],
            hook_token=secrets["quota_hook_token"],
            jobs_token=secrets["quota_jobs_token"],
            quota_token=secrets["quota_service_token"],
            db_url=db_url,
        )

    def stop(self) -> None:
        self.proc.stop()
        self.hub.stop()
