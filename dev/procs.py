"""Child processes of the dev supervisor: one log file each, stopped by process group."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .poll import PollTimeout, poll_until


class StartupError(RuntimeError):
    """A process did not come up; the message says which, and where its log is."""


@dataclass
class Child:
    """One process the supervisor started, in its own session (so Ctrl-C reaches only us)."""

    name: str
    argv: Sequence[str]
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> Child:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n==> {time.strftime('%Y-%m-%d %H:%M:%S')} starting {self.name}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                list(self.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
                cwd=self.cwd,
                start_new_session=True,
            )
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def wait_http(self, url: str, timeout: float = 60.0, ok: Sequence[int] = (200,)) -> None:
        """Poll `url` until it answers one of `ok`; fail with the log's tail otherwise."""

        def answer() -> int | str:
            if not self.running():
                code = self.proc.returncode if self.proc is not None else None
                raise StartupError(
                    f"{self.name} exited with code {code} while starting; "
                    f"its log is {self.log_path}:\n{self.tail()}"
                )
            try:
                return httpx.get(url, timeout=2.0).status_code
            except httpx.HTTPError as exc:
                return type(exc).__name__

        try:
            poll_until(answer, timeout, 0.2, f"{self.name} did not answer", until=ok.__contains__)
        except PollTimeout as exc:
            last = f"HTTP {exc.last}" if isinstance(exc.last, int) else exc.last
            raise StartupError(
                f"{self.name} did not answer {url} within {timeout:.0f} s ({last}); "
                f"its log is {self.log_path}:\n{self.tail()}"
            ) from None

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to the child's process group, then SIGKILL to what is left of it."""
        if self.proc is None:
            return
        pgid = self.proc.pid  # start_new_session: the child leads its own group
        if self.proc.poll() is None:
            _signal_group(pgid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(pgid, signal.SIGKILL)
                self.proc.wait(timeout)
        # Helpers the child started in its group (CHP, the culler) must not outlive it.
        _signal_group(pgid, signal.SIGTERM)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server could not listen there (a closed port's TIME_WAIT does not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def who_listens(port: int) -> str:
    """'pid 123 (node)' for the process listening on `port`, when psutil can tell."""
    try:
        import psutil

        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
                if conn.pid:
                    return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
    except Exception:  # noqa: S110 - best effort: the message is still clear without it
        pass
    return "another process"


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A free port on 127.0.0.1 below the kernel's ephemeral range.

    A port the kernel hands out for `bind(0)` comes from the same range as the source ports
    of outgoing connections, so a busy process (a starting hub) could take it before the
    server it was picked for binds it. Ports below that range are never taken that way.
    """
    high = _ephemeral_low() - 1
    for _ in range(200):
        port = random.randint(max(1024, high - 12_000), high)  # noqa: S311 - not a secret
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
