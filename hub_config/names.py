"""Names the hub side shares with the quota service and the chart: the services, the quota
service's URL prefix and port, the custom scopes, and the prefixes of environment variables.

Declared once here for hub_config; the quota service declares the same names in
quota_service/names.py (the hub image has no quota_service), and
tests/quota_service/test_settings_names.py checks the two agree.
"""

from __future__ import annotations

# The hub's settings come from NEXUS_<NAME> (hub_config/settings.py).
ENV_PREFIX = "NEXUS_"
# The quota service's own settings: what a hub-managed quota service is given.
QUOTA_ENV_PREFIX = "NEXUS_QUOTA_"

# JupyterHub services.
QUOTA_SERVICE = "quota"
HOOK_SERVICE = "quota-hub-hook"
JOBS_SERVICE = "quota-jobs"
CULLER_SERVICE = "idle-culler"

# Where the quota service listens by default, and where the hub's proxy serves it.
QUOTA_PORT = 10101
QUOTA_PREFIX = f"/services/{QUOTA_SERVICE}/"
QUOTA_URL = f"http://127.0.0.1:{QUOTA_PORT}{QUOTA_PREFIX}"

# The quota service's custom scopes, and the hub's scope to open it.
SCOPE_PREFIX = "custom:nexus-quota:"
SCOPE_SPAWN = SCOPE_PREFIX + "spawn"
SCOPE_JOBS = SCOPE_PREFIX + "jobs"
SCOPE_ADMIN = SCOPE_PREFIX + "admin"
SCOPE_ACCESS = f"access:services!service={QUOTA_SERVICE}"
