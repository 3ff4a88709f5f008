"""Names the quota service shares with the hub and the chart: its service name, URL prefix,
port, scopes and the prefix of its environment variables. Declared once here; the hub's side
declares the same names in hub_config/names.py (the hub image has no quota_service), and
tests/quota_service/test_settings_names.py checks the two agree.
"""

from __future__ import annotations

# The JupyterHub service this is, and where the hub's proxy serves it.
SERVICE_NAME = "quota"
SERVICE_PREFIX = f"/services/{SERVICE_NAME}/"
# JupyterHub names a service's OAuth client `service-<name>`.
OAUTH_CLIENT_ID = f"service-{SERVICE_NAME}"
DEFAULT_PORT = 10101

# Custom scopes (declared to the hub by hub_config/services.py).
SCOPE_PREFIX = "custom:nexus-quota:"
SCOPE_SPAWN = SCOPE_PREFIX + "spawn"
SCOPE_JOBS = SCOPE_PREFIX + "jobs"
SCOPE_ADMIN = SCOPE_PREFIX + "admin"

# Settings come from NEXUS_QUOTA_<NAME>; the YAML file's path from NEXUS_QUOTA_CONFIG.
ENV_PREFIX = "NEXUS_QUOTA_"
CONFIG_ENV = ENV_PREFIX + "CONFIG"
# A test switch, not a setting (quota_service/db.py reads it; docs/quota-service.md says why).
LOOP_GUARD_ENV = ENV_PREFIX + "LOOP_GUARD"
