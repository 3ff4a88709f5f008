"""A real JupyterHub process (with configurable-http-proxy from npm) for tests.

    hub = start_hub(workdir, env={...}, extra_config="c.JupyterHub.log_level = 'DEBUG'")
    hub.url            # public URL, through CHP: http://127.0.0.1:<port>
    hub.api_url        # http://127.0.0.1:<hub port>/hub/api
    hub.api(token)     # an httpx.Client for the REST API with that token
    hub.stop()

`start_hub` writes `workdir/jupyterhub_config.py`, which loads the project's
`hub_config/jupyterhub_config.py` (or `base_config`) and then runs `extra_config`, so a test
can add services or tokens without touching the real configuration. Ports are free ports
given on the command line (which overrides the config files); the state lives in
`workdir/state` (NEXUS_STATE_DIR unless `env` sets it). CHP comes from node_modules/.bin
(`make chp`).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from dev.envs import hub_process_env
from dev.settings import new_secrets

from .processes import REPO_ROOT, ServerProcess, free_port

HUB_CONFIG = REPO_ROOT / "hub_config" / "jupyterhub_config.py"
NODE_BIN = REPO_ROOT / "node_modules" / ".bin"


def chp_path() -> Path:
    chp = NODE_BIN / "configurable-http-proxy"
    if not chp.exists():
        found = shutil.which("configurable-http-proxy")
        if found is None:
            raise RuntimeError("configurable-http-proxy is not installed: run `make chp`")
        return Path(found)
    return chp


@dataclass
class HubInstance:
    url: str
    hub_url: str
    workdir: Path
    state_dir: Path
    proc: ServerProcess
    env: dict[str, str] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return self.hub_url + "/hub/api"

    def api(self, token: str, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(
            base_url=self.api_url + "/",
            headers={"Authorization": f"token {token}"},
            timeout=timeout,
        )

    def log(self) -> str:
        return self.proc.log_path.read_text(errors="replace")

    def stop(self) -> None:
        # On SIGTERM JupyterHub stops CHP, hub-managed services and (cleanup_servers,
        # the default) the single-user servers.
        self.proc.stop(timeout=30)


def start_hub(
    workdir: Path,
    *,
    secrets: Mapping[str, str] | None = None,
    env: dict[str, str] | None = None,
    extra_config: str = "",
    base_config: Path = HUB_CONFIG,
    log_name: str = "jupyterhub.log",
    timeout: float = 90.0,
) -> HubInstance:
    """Start `jupyterhub` in `workdir` and wait until its REST API answers.

    Its process environment is dev's (dev/envs.py) with `secrets` (new ones unless given).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port, hub_port, proxy_port = free_port(), free_port(), free_port()
    config = workdir / "jupyterhub_config.py"
    config.write_text(
        "# Written by tests/support/hub.py\n"
        "c = get_config()  # noqa\n"
        f"load_subconfig({str(base_config)!r})  # noqa\n" + extra_config + "\n"
    )
    full_env = hub_process_env(
        state_dir=workdir / "state",
        secrets=secrets or new_secrets(),
        node_bin=chp_path().parent,
        python=Path(sys.executable),
    )
    full_env.update(env or {})
    argv = [
        sys.executable,
        "-m",
        "jupyterhub",
        "-f",
        str(config),
        f"--JupyterHub.bind_url=http://127.0.0.1:{port}",
        f"--JupyterHub.hub_bind_url=http://127.0.0.1:{hub_port}",
        f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{proxy_port}",
    ]
    proc = ServerProcess(
        name="jupyterhub",
        argv=argv,
        log_path=workdir / log_name,
        env=full_env,
        cwd=workdir,
    ).start()
    hub = HubInstance(
        url=f"http://127.0.0.1:{port}",
        hub_url=f"http://127.0.0.1:{hub_port}",
        workdir=workdir,
        state_dir=Path(full_env["NEXUS_STATE_DIR"]),
        proc=proc,
        env=full_env,
    )
    try:
        # Through the proxy, so CHP is up and routes to the hub too.
        proc.wait_http(hub.url + "/hub/api", timeout=timeout)
    except Exception:
        proc.stop()
        raise
    return hub
