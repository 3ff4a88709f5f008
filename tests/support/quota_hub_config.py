# A minimal JupyterHub configuration for the quota service's own API tests: it only issues and
# checks tokens (users are created through the REST API), so these tests do not depend on the
# OIDC login. The real hub configuration is hub_config/jupyterhub_config.py; the roles below
# are its roles (hub_config/services.py), with the group `nexus-admins` as the admin group.
import os
from typing import Any

from hub_config.services import CUSTOM_SCOPES, SCOPE_ADMIN, roles


class RolesByName(list[dict[str, Any]]):
    """A role appended later replaces an earlier one of the same name, as hub_config's own
    configure_services merges them (test configs append roles such as `user`)."""

    def append(self, role: dict[str, Any]) -> None:
        self[:] = [r for r in self if r["name"] != role["name"]]
        super().append(role)


c = get_config()  # type: ignore[name-defined]  # noqa: F821
state = os.environ["NEXUS_STATE_DIR"]
os.makedirs(state, exist_ok=True)
c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.spawner_class = "simple"
c.JupyterHub.db_url = f"sqlite:///{state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{state}/jupyterhub_cookie_secret"
c.JupyterHub.pid_file = f"{state}/jupyterhub.pid"
c.ConfigurableHTTPProxy.pid_file = f"{state}/proxy.pid"
c.JupyterHub.custom_scopes = dict(CUSTOM_SCOPES)
c.JupyterHub.services = [
    {
        "name": "quota",
        "api_token": os.environ["TEST_QUOTA_TOKEN"],
        "oauth_client_allowed_scopes": [SCOPE_ADMIN],
    },
    {"name": "test-admin", "api_token": os.environ["TEST_ADMIN_TOKEN"]},
    {"name": "quota-hub-hook", "api_token": os.environ["TEST_HOOK_TOKEN"]},
    {"name": "quota-jobs", "api_token": os.environ["TEST_JOBS_TOKEN"]},
]
# hub_config's roles (users may open the quota service, the hook and the jobs get their
# scopes, members of `nexus-admins` are quota admins), plus full rights for test-admin.
c.JupyterHub.load_roles = RolesByName(
    [*roles(admin_groups=["nexus-admins"]), {"name": "admin", "services": ["test-admin"]}]
)
