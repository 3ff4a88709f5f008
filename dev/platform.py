"""`python -m dev.platform`: start and supervise the whole platform on 127.0.0.1.

    platform = Platform(DevSettings(state_dir=tmp, ports=...))
    platform.start()        # every process up, accounts seeded, data in the local S3
    ...
    platform.stop()         # stops what it started, in reverse order

The command line adds the lock ("already running"), the banner and Ctrl-C handling.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from quota_service.cli.teams import EXIT_PARTIAL as EXIT_TEAMS_PARTIAL

from . import envs, irsa
from .accounts import ACCOUNTS, QuotaCli, SeedError, seed
from .poll import poll_until
from .procs import Child, StartupError, port_in_use, who_listens
from .settings import PORTS, QUOTA_PREFIX, REPO_ROOT, DevSettings, Ports

KERNELS = ("roman-research-nexus", "roman-calibration")

EXIT_FAILED = 1
EXIT_MISSING = 2
EXIT_RUNNING = 3
EXIT_PORT = 4


class PlatformError(RuntimeError):
    """A problem a person can act on; `code` is the exit code of `make dev`."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def say(msg: str) -> None:
    print(f"[make dev] {msg}", flush=True)


class Platform:
    def __init__(self, settings: DevSettings, *, quiet: bool = False) -> None:
        self.settings = settings
        self.quiet = quiet
        self.children: list[Child] = []
        self.seeded: list[str] = []
        self.seeding: Child | None = None
        self._lock: IO[str] | None = None

    # --- checks ---------------------------------------------------------------------------
    def _say(self, msg: str) -> None:
        if not self.quiet:
            say(msg)

    def check_prerequisites(self) -> None:
        s = self.settings
        missing = []
        if not (s.node_bin / "configurable-http-proxy").exists():
            missing.append(f"configurable-http-proxy in {s.node_bin} (make chp)")
        if not (s.lab_venv / "bin" / "jupyterhub-singleuser").exists():
            missing.append(f"the JupyterLab server environment {s.lab_venv} (make kernels)")
        if not (s.kernels_root / KERNELS[0] / "bin" / "python").exists():
            missing.append(f"the Roman Research Nexus kernel in {s.kernels_root} (make kernels)")
        if missing:
            raise PlatformError(
                "missing: " + "; ".join(missing) + ". `make dev` installs all of them.",
                EXIT_MISSING,
            )

    def check_ports(self) -> None:
        for name, port in self.settings.ports.items():
            if port_in_use(port):
                env = f"NEXUS_DEV_{name.upper()}_PORT"
                raise PlatformError(
                    f"port {port} on 127.0.0.1 ({PORTS[name][1]}) is already in use by "
                    f"{who_listens(port)}. Stop that, or pick another port: "
                    f"make dev {env}=<port> (or --{name.replace('_', '-')}-port).",
                    EXIT_PORT,
                )

    def acquire_lock(self) -> None:
        """One platform per state directory: a second start is told who runs it."""
        s = self.settings
        s.run_dir.mkdir(parents=True, exist_ok=True)
        lock = s.lock_path.open("a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            info = {}
            with contextlib.suppress(OSError, ValueError):
                info = json.loads(s.pid_path.read_text())
            raise PlatformError(
                f"the platform is already running from {s.state_dir} "
                f"(pid {info.get('pid', '?')}, {info.get('url', '?')}). "
                "Use it, or stop it with Ctrl-C in its terminal"
                + (f" or `kill {info['pid']}`" if "pid" in info else "")
                + ".",
                EXIT_RUNNING,
            ) from None
        self._lock = lock
        s.pid_path.write_text(
            json.dumps({"pid": os.getpid(), "url": s.hub_url, "started": time.time()})
        )

    def release_lock(self) -> None:
        if self._lock is not None:
            with contextlib.suppress(OSError):
                self.settings.pid_path.unlink()
            self._lock.close()
            self._lock = None

    # --- start ----------------------------------------------------------------------------
    def _child(
        self, name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> Child:
        log = self.settings.log(name)
        child = Child(name=name, argv=argv, log_path=log, env=env or {}, cwd=cwd).start()
        self.children.append(child)
        return child

    def start(self, *, lock: bool = True) -> None:
        """Start everything; on any failure, stop what was started and raise."""
        self.check_prerequisites()
        if lock:
            self.acquire_lock()
        try:
            self.check_ports()
            self._start_all()
        except BaseException:
            self.stop()
            raise

    def _start_all(self) -> None:
        s = self.settings
        for d in (s.logs_dir, s.quota_db.parent, s.state_dir / "homes", s.state_dir / "scratch"):
            d.mkdir(parents=True, exist_ok=True)
        tokens = s.secrets()
        py = str(s.python)

        self._say(f"starting the MyST stand-in (oidc-provider-mock) on {s.oidc_issuer}")
        argv = [py, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(s.ports.oidc)]
        for acct in ACCOUNTS:
            argv += ["--user-claims", json.dumps(acct.claims())]
        oidc = self._child("oidc", argv)

        self._say(f"starting the local S3 (moto) on {s.s3_url}")
        s3 = self._child("s3", [py, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s.ports.s3)])
        oidc.wait_http(s.oidc_issuer + "/.well-known/openid-configuration", timeout=60)
        s3.wait_http(s.s3_url + "/moto-api/", timeout=60)
        self._provision_irsa()
        seeding = self._start_data_seed() if s.seed_data else None

        self._say(f"migrating and seeding the quota database {s.quota_db}")
        self._prepare_quota(tokens)
        self._say(f"starting the quota service on {s.quota_url}")
        quota = self._child("quota", [py, "-m", "quota_service.cli.main", "serve",
                                      "--host", "127.0.0.1", "--port", str(s.ports.quota)],
                            envs.dev_quota_env(s, tokens))  # fmt: skip

        self._write_kernelspecs()
        self._install_tutorials()
        self._say(f"starting JupyterHub on {s.hub_url}")
        hub = self._child(
            "jupyterhub",
            [py, "-m", "jupyterhub", "-f", str(REPO_ROOT / "dev" / "jupyterhub_config.py")],
            envs.dev_hub_env(s, tokens),
            cwd=s.state_dir,
        )
        quota.wait_http(s.quota_url + "api/v1/health", timeout=60)
        hub.wait_http(s.hub_url + "/hub/api", timeout=120)
        if seeding is not None:
            self._finish_data_seed(seeding)

    def _install_tutorials(self) -> None:
        """Install notebooks/ read-only, the way the user image does (same script)."""
        s = self.settings
        if s.tutorials_override is not None:
            return
        script = REPO_ROOT / "notebooks" / "install-tutorials.sh"
        with s.log("tutorials").open("ab") as log:
            subprocess.run(
                ["bash", str(script), str(s.tutorials_dir)],
                stdout=log,
                stderr=subprocess.STDOUT,
                check=True,
            )

    def _start_data_seed(self) -> Child:
        s = self.settings
        self._say(f"putting the synthetic Roman files into the local S3 (log: {s.log('data')})")
        kernel_py = s.kernels_root / KERNELS[0] / "bin" / "python"
        self.seeding = Child(
            name="data",
            argv=[str(kernel_py), str(REPO_ROOT / "notebooks" / "data" / "make_data.py"),
                  "--endpoint", s.s3_url, "--out", str(s.data_dir)],
            log_path=s.log("data"),
            env={**envs.s3_env(s.s3_url), "NEXUS_STATE_DIR": str(s.state_dir)},
        ).start()  # fmt: skip
        return self.seeding

    def _finish_data_seed(self, seeding: Child, timeout: float = 600) -> None:
        assert seeding.proc is not None
        try:
            code = seeding.proc.wait(timeout)
        except Exception:
            seeding.stop()
            raise
        if code != 0:
            raise PlatformError(
                f"seeding the local S3 failed ({code}); its log is {seeding.log_path}:\n"
                + seeding.tail()
            )

    def _provision_irsa(self) -> None:
        """User servers read S3 with an IAM role and a web identity token, as on EKS."""
        s = self.settings
        self._say(f"creating the user role {irsa.role_arn()} and its token in the local S3/STS")
        irsa.provision(s.s3_url)
        irsa.write_token(s.web_identity_token_file)

    def _prepare_quota(self, tokens: dict[str, str]) -> None:
        s = self.settings
        env = {**os.environ, **envs.dev_quota_env(s, tokens)}
        with s.log("quota-seed").open("a") as log:
            cli = QuotaCli([str(s.python), "-m", "quota_service.cli.main"], env, log)
            try:
                cli.run("db", "upgrade")
                self.seeded = seed(cli)
                # Every consortium's folder, also those made before team folders existed.
                synced = cli.run("teams", "sync", "--create-root", ok=(0, EXIT_TEAMS_PARTIAL))
            except SeedError as exc:
                raise PlatformError(f"{exc} (log: {s.log('quota-seed')})") from None
        for line in self.seeded:
            self._say(line)
        if synced.returncode == EXIT_TEAMS_PARTIAL:
            self._say(
                f"some team folders under {envs.teams_dir(s)} could not be made (owner root, "
                f"group the team's gid needs root); see {s.log('quota-seed')}"
            )

    def _write_kernelspecs(self) -> None:
        """Roman kernelspecs, in a Jupyter data dir that only the dev lab server reads."""
        s = self.settings
        for name in KERNELS:
            prefix = s.kernels_root / name
            template = REPO_ROOT / "kernels" / name / "kernel.json"
            if not (prefix / "bin" / "python").exists() or not template.is_file():
                continue
            # The same substitutions as kernels/install.sh makes for build/jupyter.
            text = template.read_text().replace("@PREFIX@", str(prefix))
            text = text.replace("@CRDS_PATH@", str(s.crds_path))
            text = text.replace("@REFDATA@", str(s.refdata_dir))
            dest = s.jupyter_dir / "kernels" / name
            dest.mkdir(parents=True, exist_ok=True)
            (dest / "kernel.json").write_text(json.dumps(json.loads(text), indent=2) + "\n")

    # --- run and stop ---------------------------------------------------------------------
    def dead(self) -> list[Child]:
        return [c for c in self.children if not c.running()]

    def pids(self) -> list[int]:
        return [c.pid for c in self.children if c.pid is not None and c.running()]

    def stop(self) -> None:
        """Stop every process this platform started (newest first), and only those."""
        for child in reversed(self.children):
            if child.running():
                self._say(f"stopping {child.name} (pid {child.pid})")
            child.stop(timeout=30 if child.name == "jupyterhub" else 10)
        self.children.clear()
        if self.seeding is not None:
            self.seeding.stop()
            self.seeding = None
        self.release_lock()

    def banner(self) -> str:
        s = self.settings
        width = max(len(a.username) for a in ACCOUNTS)
        lines = [
            "",
            f"The Roman Research Nexus is running at  {s.hub_url}",
            "",
            'Sign in with "MyST", then type one of these names as the subject (no password):',
            *[f"  {a.username:<{width}}  {a.role}" for a in ACCOUNTS],
            "",
            f"Quota service:  {s.hub_url}{QUOTA_PREFIX}   local S3:  {s.s3_url}",
            f"State:  {s.state_dir}   logs:  {s.logs_dir}/<process>.log",
            "Press Ctrl-C to stop everything.",
            "",
        ]
        return "\n".join(lines)


# --- command line -----------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m dev.platform",
        description="Run the whole Roman Research Nexus platform on 127.0.0.1 (make dev).",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get("NEXUS_DEV_STATE_DIR") or REPO_ROOT / ".state"),
        help="homes, scratch, databases and logs (default .state; STATE_DIR= in make)",
    )
    defaults = Ports.from_env()
    for name, (_default, what) in PORTS.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}-port",
            type=int,
            default=getattr(defaults, name),
            help=f"{what} (default {getattr(defaults, name)}; NEXUS_DEV_{name.upper()}_PORT)",
        )
    parser.add_argument("--no-data", action="store_true", help="do not seed the local S3")
    return parser.parse_args(argv)


@contextlib.contextmanager
def _stop_signals() -> Iterator[list[int]]:
    """Turn SIGINT/SIGTERM/SIGHUP into a flag the supervision loop reads."""
    received: list[int] = []

    def handler(signum: int, _frame: Any) -> None:
        received.append(signum)

    old = {
        sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    try:
        yield received
    finally:
        for sig, prev in old.items():
            signal.signal(sig, prev)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ports = Ports(**{name: getattr(args, f"{name}_port") for name in PORTS})
    settings = replace(
        DevSettings(state_dir=args.state_dir, ports=ports), seed_data=not args.no_data
    )
    platform = Platform(settings)
    with _stop_signals() as received:
        try:
            platform.start()
        except PlatformError as exc:
            print(f"[make dev] error: {exc}", file=sys.stderr)
            return exc.code
        except StartupError as exc:
            print(f"[make dev] error: {exc}", file=sys.stderr)
            return EXIT_FAILED
        if received:
            platform.stop()
            return 0
        print(platform.banner(), flush=True)
        # Supervise until a stop signal or a child's death, whichever comes first.
        poll_until(lambda: received or platform.dead(), math.inf, 0.5, "supervising")
        dead = [] if received else platform.dead()
        for child in dead:
            print(
                f"[make dev] {child.name} exited unexpectedly; its log is "
                f"{child.log_path}:\n{child.tail()}",
                file=sys.stderr,
            )
        code = EXIT_FAILED if dead else 0
        say("stopping")
        platform.stop()
        say("stopped; state kept in " + str(settings.state_dir))
        return code


if __name__ == "__main__":
    sys.exit(main())
