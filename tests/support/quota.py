"""A real quota service process (`nexus-quota serve`) behind a real JupyterHub for tokens.

stack = QuotaStack.start(workdir, db_url)        # hub + migrated quota service
stack.api(stack.user_token("alice"))              # httpx client for /services/quota/api/v1/
stack.api(stack.hook_token)                       # as the hub's spawner hook
"""

from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import httpx

from quota_service import db

from .hub import HubInstance, start_hub
from .processes import ServerProcess, free_port

QUOTA_HUB_CONFIG = Path(__file__).with_name("quota_hub_config.py")
PREFIX = "/services/quota/"


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
            "NEXUS_QUOTA_DATABASE_URL": db_url,
            "JUPYTERHUB_API_URL": hub_api_url,
            "JUPYTERHUB_API_TOKEN": token,
            "JUPYTERHUB_SERVICE_PREFIX": PREFIX,
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
        """A hub (tests/support/quota_hub_config.py + `extra_hub_config`) and the service.

        The hub config can read the service's URL from TEST_QUOTA_URL.
        """
        tokens = {k: secrets.token_hex(16) for k in ("quota", "admin", "hook", "jobs")}
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        hub = start_hub(
            workdir / "hub",
            base_config=QUOTA_HUB_CONFIG,
            extra_config=extra_hub_config,
            env={
                "TEST_QUOTA_TOKEN": tokens["quota"],
                "TEST_ADMIN_TOKEN": tokens["admin"],
                "TEST_HOOK_TOKEN": tokens["hook"],
                "TEST_JOBS_TOKEN": tokens["jobs"],
                "TEST_QUOTA_URL": url,
            },
        )
        try:
            proc = start_quota_service(
                workdir, db_url, port=port, hub_api_url=hub.api_url, token=tokens["quota"], env=env
            )
        except Exception:
            hub.stop()
            raise
        return cls(
            hub=hub,
            proc=proc,
            url=url,
            admin_service_token=tokens["admin"],
            hook_token=tokens["hook"],
            jobs_token=tokens["jobs"],
            quota_token=tokens["quota"],
            db_url=db_url,
        )

    def stop(self) -> None:
        self.proc.stop()
        self.hub.stop()
