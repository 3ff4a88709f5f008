"""The hub side with real parts: OIDC provider, JupyterHub (hub_config), quota service.

    stack = start_stack(workdir, provider)            # hub + quota service, fail mode closed
    browser = stack.login("ellen")                     # signed in through the OIDC provider
    resp = stack.spawn(browser, {"profile": "small"})  # the spawn form, posted like a browser
    stack.wait_ready("ellen")
    stack.quota_admin().get("admin/users/ellen")

`start_stack(..., quota=False)` points the hub at a port where nothing listens: the quota
service is unreachable, for the fail-mode tests. Single-user servers run from the lab
server environment built by `make hub-singleuser` (kernels/lab-server's lock). The stack is
tests/support/stack.py's `Stack` with the OIDC stand-in.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.oidc import OidcProvider
from tests.support.stack import Stack


class NexusStack(Stack):
    @property
    def provider(self) -> OidcProvider:
        assert self.oidc_provider is not None
        return self.oidc_provider


def start_stack(
    workdir: Path,
    provider: OidcProvider,
    *,
    fail_mode: str = "closed",
    quota: bool = True,
    env: dict[str, str] | None = None,
    quota_env: dict[str, str] | None = None,
    extra_config: str = "",
) -> NexusStack:
    """Start the hub with hub_config and (unless `quota=False`) the quota service."""
    return NexusStack.build(
        workdir,
        oidc=provider,
        quota=quota,
        fail_mode=fail_mode,
        hub_env=env,
        quota_env=quota_env,
        extra_hub_config=extra_config,
    )
