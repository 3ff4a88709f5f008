"""Where the dev platform keeps its state, which ports it uses, and what it runs."""

from __future__ import annotations

import json
import os
import secrets
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
QUOTA_PREFIX = "/services/quota/"

# name -> (default port, what listens there); `--<name>-port` or NEXUS_DEV_<NAME>_PORT.
PORTS: dict[str, tuple[int, str]] = {
    "hub": (8000, "JupyterHub (through configurable-http-proxy): the URL you open"),
    "proxy_api": (8001, "configurable-http-proxy's REST API"),
    "hub_api": (8081, "JupyterHub's own port (its REST API)"),
    "oidc": (8090, "the MyST stand-in (oidc-provider-mock)"),
    "s3": (9000, "moto's S3 server"),
    "quota": (10101, "the quota service"),
}

SECRET_NAMES = (
    "crypt_key",
    "proxy_token",
    "oidc_client_secret",
    "quota_service_token",
    "quota_hook_token",
    "quota_jobs_token",
    "admin_token",
)


def local_url(port: int, path: str = "") -> str:
    return f"http://127.0.0.1:{port}{path}"


def new_secrets() -> dict[str, str]:
    """A fresh value for every name in SECRET_NAMES."""
    return {name: secrets.token_hex(32) for name in SECRET_NAMES}


@dataclass(frozen=True)
class Ports:
    hub: int = 8000
    proxy_api: int = 8001
    hub_api: int = 8081
    oidc: int = 8090
    s3: int = 9000
    quota: int = 10101

    def items(self) -> list[tuple[str, int]]:
        return [(f.name, int(getattr(self, f.name))) for f in fields(self)]

    @classmethod
    def from_env(cls) -> Ports:
        values = {}
        for name, (default, _what) in PORTS.items():
            raw = os.environ.get(f"NEXUS_DEV_{name.upper()}_PORT")
            values[name] = int(raw) if raw else default
        return cls(**values)


def _env_path(name: str, default: Path) -> Path:
    raw = os.environ.get(name)
    return Path(raw) if raw else default


@dataclass(frozen=True)
class DevSettings:
    """Everything the supervisor needs; defaults suit a fresh clone after `make dev`'s installs."""

    state_dir: Path = field(default_factory=lambda: REPO_ROOT / ".state")
    ports: Ports = field(default_factory=Ports)
    python: Path = field(default_factory=lambda: Path(sys.executable))
    # The JupyterLab server environment (kernels/lab-server), and the Roman kernels' venvs.
    lab_venv: Path = field(
        default_factory=lambda: _env_path("NEXUS_DEV_LAB_VENV", REPO_ROOT / ".venv-lab")
    )
    kernels_root: Path = field(
        default_factory=lambda: _env_path("NEXUS_DEV_KERNELS_ROOT", REPO_ROOT / ".venv-kernels")
    )
    # Empty: the platform installs notebooks/ read-only into <state>/tutorials at start.
    tutorials_override: Path | None = field(
        default_factory=lambda: (
            Path(os.environ["NEXUS_DEV_TUTORIALS_DIR"])
            if os.environ.get("NEXUS_DEV_TUTORIALS_DIR")
            else None
        )
    )
    node_bin: Path = field(default_factory=lambda: REPO_ROOT / "node_modules" / ".bin")
    seed_data: bool = True
    cull: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "state_dir", self.state_dir.resolve())

    # --- where each process answers ---
    @property
    def hub_url(self) -> str:
        return local_url(self.ports.hub)

    @property
    def oidc_issuer(self) -> str:
        return local_url(self.ports.oidc)

    @property
    def s3_url(self) -> str:
        return local_url(self.ports.s3)

    @property
    def quota_url(self) -> str:
        return local_url(self.ports.quota, QUOTA_PREFIX)

    # --- paths under the state directory ---
    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    def log(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "dev"

    @property
    def lock_path(self) -> Path:
        return self.run_dir / "platform.lock"

    @property
    def pid_path(self) -> Path:
        return self.run_dir / "platform.json"

    @property
    def quota_db(self) -> Path:
        return self.state_dir / "quota" / "quota.sqlite"

    @property
    def quota_db_url(self) -> str:
        return f"sqlite:///{self.quota_db}"

    @property
    def jupyter_dir(self) -> Path:
        """A Jupyter data dir holding the Roman kernelspecs (JUPYTER_PATH of the lab server)."""
        return self.run_dir / "jupyter"

    @property
    def tutorials_dir(self) -> Path:
        return self.tutorials_override or self.state_dir / "tutorials"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    # Built by make under its STATE_DIR (mk/crds.mk's CRDS_PATH, mk/kernels.mk's REFDATA).
    @property
    def crds_path(self) -> Path:
        """The synthetic CRDS cache the Calibration kernel reads (`make crds-cache`)."""
        return self.state_dir / "crds"

    @property
    def refdata_dir(self) -> Path:
        """The kernels' synthetic package data (kernels/refdata/make_refdata.py)."""
        return self.state_dir / "refdata"

    @property
    def web_identity_token_file(self) -> Path:
        """The user servers' IRSA token (as EKS projects it into each user pod; dev/irsa.py)."""
        return self.run_dir / "irsa" / "token"

    def secrets(self) -> dict[str, str]:
        """Tokens and keys, made once and kept (0600): auth_state must decrypt after a restart."""
        path = self.run_dir / "secrets.json"
        known: dict[str, str] = {}
        if path.is_file():
            known = {str(k): str(v) for k, v in json.loads(path.read_text()).items()}
        missing = [n for n in SECRET_NAMES if n not in known]
        if missing:
            known = {**new_secrets(), **known}
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump(known, out, indent=2)
        return known
