# A minimal JupyterHub configuration for the quota service's own API tests: it only issues and
# checks tokens (users are created through the REST API), so these tests do not depend on the
# OIDC login. The real hub configuration is hub_config/jupyterhub_config.py.
import os

c = get_config()  # type: ignore[name-defined]  # noqa: F821
state = os.environ["NEXUS_STATE_DIR"]
os.makedirs(state, exist_ok=True)
c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.spawner_class = "simple"
c.JupyterHub.db_url = f"sqlite:///{state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{state}/jupyterhub_cookie_secret"
c.JupyterHub.pid_file = f"{state}/jupyterhub.pid"
c.ConfigurableHTTPProxy.pid_file = f"{state}/proxy.pid"
c.JupyterHub.custom_scopes = {
    "custom:nexus-quota:spawn": {"description": "ask the quota service for spawn decisions"},
    "custom:nexus-quota:jobs": {"description": "run quota maintenance jobs"},
    "custom:nexus-quota:admin": {"description": "administer allocations"},
}
c.JupyterHub.services = [
    {"name": "quota", "api_token": os.environ["TEST_QUOTA_TOKEN"]},
    {"name": "test-admin", "api_token": os.environ["TEST_ADMIN_TOKEN"]},
    {"name": "quota-hub-hook", "api_token": os.environ["TEST_HOOK_TOKEN"]},
    {"name": "quota-jobs", "api_token": os.environ["TEST_JOBS_TOKEN"]},
]
c.JupyterHub.load_roles = [
    {"name": "admin", "services": ["test-admin"]},
    {"name": "quota-hook", "scopes": ["custom:nexus-quota:spawn"], "services": ["quota-hub-hook"]},
    {"name": "quota-jobs", "scopes": ["custom:nexus-quota:jobs"], "services": ["quota-jobs"]},
]
