"""`make dev` behaves like a well-made tool: taken ports, a second start, Ctrl-C, restarts."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from dev.platform import EXIT_PORT, EXIT_RUNNING, Platform
from dev.settings import PORTS, DevSettings
from tests.support.platform import free_ports, platform_settings
from tests.support.processes import REPO_ROOT

pytestmark = [pytest.mark.integration]


def cli_args(settings: DevSettings, *extra: str) -> list[str]:
    argv = [sys.executable, "-m", "dev.platform", "--state-dir", str(settings.state_dir)]
    for name in PORTS:
        argv += [f"--{name.replace('_', '-')}-port", str(getattr(settings.ports, name))]
    return [*argv, *extra]


def run_cli(settings: DevSettings, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_args(settings, *extra), cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )


def test_the_kernelspecs_point_at_what_make_builds_under_the_state_dir(tmp_path: Path) -> None:
    """Every placeholder filled: CRDS_PATH and REFDATA are mk/crds.mk's and mk/kernels.mk's."""
    settings = platform_settings(tmp_path / "state")
    Platform(settings, quiet=True)._write_kernelspecs()
    specs = sorted((settings.jupyter_dir / "kernels").glob("*/kernel.json"))
    if not specs:
        pytest.fail("no kernel venvs under .venv-kernels: run `make kernels`")
    for spec in specs:
        assert "@" not in spec.read_text(), spec
    cal = json.loads(
        (settings.jupyter_dir / "kernels" / "roman-calibration" / "kernel.json").read_text()
    )
    assert cal["env"]["CRDS_PATH"] == str(settings.state_dir / "crds")
    assert cal["env"]["STPSF_PATH"] == str(settings.state_dir / "refdata" / "stpsf-data")


def test_a_taken_port_is_named_with_what_it_is_for(tmp_path: Path) -> None:
    settings = platform_settings(tmp_path / "state")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", settings.ports.quota))
        squatter.listen()
        done = run_cli(settings, "--no-data")
    assert done.returncode == EXIT_PORT, done.stderr
    assert f"port {settings.ports.quota}" in done.stderr
    assert "quota service" in done.stderr
    assert "NEXUS_DEV_QUOTA_PORT" in done.stderr
    assert not (settings.logs_dir / "oidc.log").exists()  # nothing was started


def test_a_second_start_says_one_is_running(tmp_path: Path) -> None:
    settings = platform_settings(tmp_path / "state")
    holder = Platform(settings, quiet=True)
    holder.acquire_lock()
    try:
        done = run_cli(settings, "--no-data")
    finally:
        holder.release_lock()
    assert done.returncode == EXIT_RUNNING, done.stderr
    assert "already running" in done.stderr
    assert str(settings.state_dir) in done.stderr


def _start(settings: DevSettings) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        cli_args(settings, "--no-data"),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line.rstrip())
        if "Press Ctrl-C" in line:
            return proc, lines
    proc.wait(30)
    raise AssertionError("make dev did not come up:\n" + "\n".join(lines))


def _interrupt(proc: subprocess.Popen[str]) -> tuple[int, list[int]]:
    family = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert "stopped; state kept" in out, out
    return proc.returncode, family


@pytest.mark.slow
def test_ctrl_c_stops_everything_it_started_and_state_survives_a_restart(
    tmp_path: Path,
) -> None:
    settings = DevSettings(state_dir=tmp_path / "state", ports=free_ports(), cull=False)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        proc, first = _start(settings)
        assert any("granted rosa a Research allocation" in line for line in first)
        secrets = json.loads((settings.run_dir / "secrets.json").read_text())
        code, family = _interrupt(proc)
        assert code == 0
        assert len(family) >= 5  # oidc, s3, quota, hub, CHP at least
        alive = [
            p for p in family if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"
        ]
        assert alive == []
        assert bystander.poll() is None  # only its own processes

        proc, second = _start(settings)
        code, _ = _interrupt(proc)
        assert code == 0
        assert not any("granted" in line or "created" in line for line in second), second
        assert json.loads((settings.run_dir / "secrets.json").read_text()) == secrets
        assert settings.quota_db.is_file()
    finally:
        bystander.kill()
        bystander.wait()
