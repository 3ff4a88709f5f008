"""A real quota service process (`nexus-quota serve`) behind a real JupyterHub for tokens.

stack = QuotaStack.start(workdir, db_url)        # token hub + migrated quota service
stack.api(stack.user_token("alice"))              # httpx client for /services/quota/api/v1/
stack.api(stack.hook_token)                       # as the hub's spawner hook

The stack is tests/support/stack.py's `Stack` without the OIDC stand-in; its hub has
hub_config's services, roles and scopes (quota_hub_config.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from .stack import (
    PREFIX,
    QUOTA_HUB_CONFIG,
    Stack,
    start_quota_service,
    start_token_hub,
    token_hub_env,
)

__all__ = [
    "PREFIX",
    "QUOTA_HUB_CONFIG",
    "QuotaStack",
    "start_quota_service",
    "start_token_hub",
    "token_hub_env",
]


class QuotaStack(Stack):
    @classmethod
    def start(
        cls,
        workdir: Path,
        db_url: str,
        *,
        env: dict[str, str] | None = None,
        extra_hub_config: str = "",
    ) -> Self:
        """The token hub (+ `extra_hub_config`) and the service with `env` added."""
        return cls.build(workdir, db_url=db_url, quota_env=env, extra_hub_config=extra_hub_config)
