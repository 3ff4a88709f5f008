"""The environment of each process, built here for `make dev` and for the tests' stacks alike.

The names are the ones the settings read: NEXUS_* (hub_config's HubSettings), NEXUS_QUOTA_* and
JUPYTERHUB_* (the quota service's Settings). Callers give ports, paths and secrets (named as in
dev.settings.SECRET_NAMES); dev/platform.py adds what only `make dev` runs (bind URLs, the
dev-admin service, the user servers' S3), the tests add their own test-only settings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import irsa
from .accounts import ADMIN_CLAIM, ADMIN_GROUPS, ALLOWED_GROUPS
from .settings import QUOTA_PREFIX, REPO_ROOT, DevSettings, local_url

OIDC_CLIENT_ID = "roman-nexus-hub"


def quota_env(*, db_url: str, hub_api_url: str, token: str) -> dict[str, str]:
    """The quota service: its database, and the hub it resolves tokens with."""
    return {
        "NEXUS_QUOTA_DATABASE_URL": db_url,
        "JUPYTERHUB_API_URL": hub_api_url,
        "JUPYTERHUB_API_TOKEN": token,
        "JUPYTERHUB_SERVICE_PREFIX": QUOTA_PREFIX,
    }


def quota_oauth_env(*, port: int, public_url: str) -> dict[str, str]:
    """What the hub gives a service it runs itself, for the pages' sign-in; dev runs the
    service beside the hub, so it passes them by hand."""
    return {
        "JUPYTERHUB_SERVICE_NAME": "quota",
        "JUPYTERHUB_SERVICE_URL": local_url(port),
        "JUPYTERHUB_CLIENT_ID": "service-quota",
        "JUPYTERHUB_BASE_URL": "/",
        "JUPYTERHUB_HOST": "",
        "JUPYTERHUB_PUBLIC_URL": public_url + "/",
        "JUPYTERHUB_OAUTH_CALLBACK_URL": QUOTA_PREFIX + "oauth_callback",
    }


def hub_process_env(
    *, state_dir: Path, secrets: Mapping[str, str], node_bin: Path, python: Path
) -> dict[str, str]:
    """Any hub: its state, its keys, CHP and this Python on PATH, the repository importable."""
    return {
        "NEXUS_STATE_DIR": str(state_dir),
        "JUPYTERHUB_CRYPT_KEY": secrets["crypt_key"],
        "CONFIGPROXY_AUTH_TOKEN": secrets["proxy_token"],
        "PATH": os.pathsep.join([str(node_bin), str(python.parent), os.environ.get("PATH", "")]),
        "PYTHONPATH": os.pathsep.join(
            p for p in [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")] if p
        ),
    }


def hub_services_env(*, quota_url: str, secrets: Mapping[str, str]) -> dict[str, str]:
    """What hub_config.services reads: the quota service's URL, the services' tokens, and the
    group whose members administer it."""
    return {
        "NEXUS_QUOTA_URL": quota_url,
        "NEXUS_QUOTA_SERVICE_TOKEN": secrets["quota_service_token"],
        "NEXUS_QUOTA_HOOK_TOKEN": secrets["quota_hook_token"],
        "NEXUS_QUOTA_JOBS_TOKEN": secrets["quota_jobs_token"],
        "NEXUS_ADMIN_GROUPS": ",".join(ADMIN_GROUPS),
    }


def hub_login_env(*, issuer: str, secrets: Mapping[str, str]) -> dict[str, str]:
    """MyST login against the OIDC stand-in with the preset groups (dev/accounts.py)."""
    return {
        "NEXUS_OIDC_ISSUER": issuer,
        "NEXUS_OIDC_CLIENT_ID": OIDC_CLIENT_ID,
        "NEXUS_OIDC_CLIENT_SECRET": secrets["oidc_client_secret"],
        "NEXUS_ALLOWED_GROUPS": ",".join(ALLOWED_GROUPS),
        "NEXUS_OIDC_ADMIN_CLAIM": ADMIN_CLAIM,
    }


def hub_spawn_env(
    *, singleuser_cmd: Sequence[str], cull: bool, tutorials_dir: Path | None
) -> dict[str, str]:
    """The local spawner's single-user command, the idle culler, the tutorials offered."""
    env = {
        "NEXUS_SINGLEUSER_CMD": json.dumps(list(singleuser_cmd)),
        "NEXUS_CULL_ENABLED": "true" if cull else "false",
    }
    if tutorials_dir is not None:
        env["NEXUS_TUTORIALS_DIR"] = str(tutorials_dir)
    return env


# --- what `make dev` gives each of its processes ---
def teams_dir(s: DevSettings) -> Path:
    """The team folders, <state>/teams/<team_dir>: made by the quota service, linked into
    members' homes as ~/teams/<team_dir> by the hub's local applier."""
    return s.state_dir / "teams"


def dev_quota_env(s: DevSettings, tokens: Mapping[str, str]) -> dict[str, str]:
    return {
        **quota_env(
            db_url=s.quota_db_url,
            hub_api_url=local_url(s.ports.hub_api, "/hub/api"),
            token=tokens["quota_service_token"],
        ),
        **quota_oauth_env(port=s.ports.quota, public_url=s.hub_url),
        "NEXUS_QUOTA_ADMIN_GROUPS": json.dumps(list(ADMIN_GROUPS)),
        # Creating a consortium makes its folder here at once (`teams sync` at start-up
        # makes any missing); the hub links members' homes to the same folder.
        "NEXUS_QUOTA_TEAMS__ROOT": str(teams_dir(s)),
    }


def dev_hub_env(s: DevSettings, tokens: Mapping[str, str]) -> dict[str, str]:
    singleuser = [str(s.lab_venv / "bin" / "jupyterhub-singleuser")]
    tutorials = s.tutorials_dir if s.tutorials_dir.is_dir() else None
    return {
        **hub_process_env(
            state_dir=s.state_dir, secrets=tokens, node_bin=s.node_bin, python=s.python
        ),
        **hub_login_env(issuer=s.oidc_issuer, secrets=tokens),
        **hub_services_env(quota_url=s.quota_url, secrets=tokens),
        **hub_spawn_env(singleuser_cmd=singleuser, cull=s.cull, tutorials_dir=tutorials),
        "NEXUS_BIND_URL": s.hub_url,
        "NEXUS_HUB_BIND_URL": local_url(s.ports.hub_api),
        "NEXUS_PROXY_API_URL": local_url(s.ports.proxy_api),
        "NEXUS_TEAMS_DIR": str(teams_dir(s)),  # = the quota service's teams.root
        # dev/jupyterhub_config.py: the user servers' extra environment, the dev-admin service.
        "NEXUS_DEV_SINGLEUSER_ENV": json.dumps(singleuser_env(s)),
        "NEXUS_DEV_ADMIN_TOKEN": tokens["admin_token"],
    }


def singleuser_env(s: DevSettings) -> dict[str, str]:
    """User servers read S3 with the IAM role (dev/irsa.py) and see the Roman kernels."""
    return {
        **irsa.pod_env(s.s3_url, s.web_identity_token_file),
        "JUPYTER_PATH": str(s.jupyter_dir),
        "JUPYTER_CONFIG_PATH": str(REPO_ROOT / "dev" / "lab_config"),
        # the lab env first, as in the user image: kernel-create, kernel-list, kernel-delete, uv
        "PATH": os.pathsep.join([str(s.lab_venv / "bin"), os.environ.get("PATH", "")]),
    }


def s3_env(url: str) -> dict[str, str]:
    """Static keys for the platform's own jobs (seeding); user servers get a role instead."""
    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_ENDPOINT_URL_S3": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # moto accepts any credentials
        "AWS_DEFAULT_REGION": "us-east-1",
    }
