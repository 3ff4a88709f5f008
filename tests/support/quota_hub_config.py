# The test hub of the quota service's own API and pages tests. Its services, roles and custom
# scopes are hub_config's (hub_config.services.configure_services, fed by the same NEXUS_*
# variables as the real hub: dev/envs.py), so a scope or service added there reaches these
# tests; tests/hub_config/test_test_hubs_agree.py fails if they drift apart. Only the login
# differs: users are made through the REST API, so these tests do not depend on OIDC.
import os
from typing import Any

from hub_config.services import configure_services
from hub_config.settings import load_settings

c: Any = get_config()  # type: ignore[name-defined]  # noqa: F821 - provided by jupyterhub
settings = load_settings()
state = settings.state_dir.resolve()
state.mkdir(parents=True, exist_ok=True)
c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.spawner_class = "simple"
c.JupyterHub.db_url = f"sqlite:///{state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{state}/jupyterhub_cookie_secret"
c.JupyterHub.pid_file = f"{state}/jupyterhub.pid"
c.ConfigurableHTTPProxy.pid_file = f"{state}/proxy.pid"
configure_services(c, settings, local=True)
# The tests' own service, with every right of the hub's built-in admin role.
c.JupyterHub.services.append({"name": "test-admin", "api_token": os.environ["TEST_ADMIN_TOKEN"]})
c.JupyterHub.load_roles.append({"name": "admin", "services": ["test-admin"]})
