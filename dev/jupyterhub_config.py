"""The dev hub: hub_config's own jupyterhub_config.py, plus what only `make dev` adds.

- `NEXUS_DEV_SINGLEUSER_ENV` (JSON): extra environment for every single-user server (the local
  S3 endpoint and credentials, JUPYTER_PATH with the Roman kernelspecs).
- `NEXUS_DEV_ADMIN_TOKEN`: a `dev-admin` service with admin scopes on the Hub and quota APIs,
  for the e2e tests and benchmarks (its token is in <state>/dev/secrets.json, mode 0600).
"""

import json
import os
from typing import Any

c: Any = get_config()  # type: ignore[name-defined]  # noqa: F821 - provided by jupyterhub
here = os.path.dirname(os.path.abspath(__file__))
load_subconfig(os.path.join(here, "..", "hub_config", "jupyterhub_config.py"))  # type: ignore[name-defined]  # noqa: F821

env = dict(c.Spawner.get("environment") or {})
env.update(json.loads(os.environ.get("NEXUS_DEV_SINGLEUSER_ENV", "{}")))
c.Spawner.environment = env

admin_token = os.environ.get("NEXUS_DEV_ADMIN_TOKEN")
if admin_token:
    c.JupyterHub.services = [
        *list(c.JupyterHub.services),
        {"name": "dev-admin", "api_token": admin_token},
    ]
    c.JupyterHub.load_roles = [
        *list(c.JupyterHub.load_roles),
        {
            "name": "dev-admin",
            "scopes": [
                "admin:users",
                "admin:servers",
                "tokens",
                "list:users",
                "read:users",
                "read:groups",
                "custom:nexus-quota:admin",
            ],
            "services": ["dev-admin"],
        },
    ]
