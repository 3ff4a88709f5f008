"""In `make dev`: a person's server has kernel-create on its PATH, the kernel it makes is offered
by that running server, is still offered after the server stops and starts again, and starts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.support.persistent_envs import LAB_BIN, require_envtools, uv_cache_dir
from tests.support.platform import RunningPlatform

pytestmark = [pytest.mark.integration, pytest.mark.kernels, pytest.mark.slow]

USER = "rosa"  # the Research account (dev/accounts.py); the browser tests do not spawn for her


def _start(nexus: RunningPlatform, browser: httpx.Client) -> dict[str, str]:
    resp = nexus.spawn(browser, {"profile": "small"})
    assert resp.status_code in (302, 303), resp.text
    nexus.wait_ready(USER, timeout=180)
    return nexus.server_env(USER)


def _server_api(nexus: RunningPlatform, token: str) -> httpx.Client:
    client = httpx.Client(
        base_url=f"{nexus.url}/user/{USER}/api/",
        headers={"Authorization": f"token {token}"},
        timeout=60,
    )
    nexus.clients.append(client)
    return client


def _kernelspecs(api: httpx.Client) -> dict[str, Any]:
    resp = api.get("kernelspecs")
    assert resp.status_code == 200, resp.text
    specs: dict[str, Any] = resp.json()["kernelspecs"]
    return specs


def _execute(ws_url: str, token: str, code: str) -> str:
    """Run one cell through the server's kernel websocket (as JupyterLab does); its stdout."""
    msg_id = uuid.uuid4().hex
    request = {
        "header": {
            "msg_id": msg_id,
            "username": USER,
            "session": uuid.uuid4().hex,
            "msg_type": "execute_request",
            "version": "5.3",
            "date": "",
        },
        "parent_header": {},
        "metadata": {},
        "content": {"code": code, "silent": False, "store_history": False},
        "channel": "shell",
        "buffers": [],
    }
    stdout: list[str] = []
    replied = idle = False
    with connect(ws_url, additional_headers={"Authorization": f"token {token}"}) as ws:
        ws.send(json.dumps(request))
        while not (replied and idle):
            msg = json.loads(ws.recv(timeout=300))
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["header"]["msg_type"]
            if kind == "stream":
                stdout.append(msg["content"]["text"])
            elif kind == "error":
                raise AssertionError(f"{msg['content']['ename']}: {msg['content']['evalue']}")
            elif kind == "execute_reply":
                assert msg["content"]["status"] == "ok", msg["content"]
                replied = True
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                idle = True
    return "".join(stdout)


def test_dev_server_makes_and_keeps_a_personal_kernel(nexus: RunningPlatform) -> None:
    require_envtools()
    browser = nexus.login(USER)
    env = _start(nexus, browser)
    # The lab env first on the server's PATH, as in the user image.
    assert env["PATH"].split(os.pathsep)[0] == str(LAB_BIN)
    for command in ("kernel-create", "kernel-list", "kernel-delete", "uv"):
        assert shutil.which(command, path=env["PATH"]) == str(LAB_BIN / command)
    home = Path(env["HOME"])
    assert nexus.state_dir in home.parents

    # What a terminal in that server runs (its environment; the machine's uv cache and CA
    # bundle, which the sandbox's network needs).
    terminal = {**env, "UV_CACHE_DIR": uv_cache_dir()}
    for key in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        if key in os.environ:
            terminal[key] = os.environ[key]
    made = subprocess.run(
        ["kernel-create", "dev-astro", "", "Dev astro"],
        env=terminal,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    assert (home / ".kernels" / "dev-astro" / "bin" / "python").exists()

    token = nexus.hub_admin().post(f"users/{USER}/tokens", json={"note": "persistent envs"})
    assert token.status_code == 201, token.text
    api = _server_api(nexus, token.json()["token"])
    specs = _kernelspecs(api)  # the running server sees it at once (a page reload in the browser)
    assert specs["dev-astro"]["spec"]["display_name"] == "Dev astro"
    assert {"roman-research-nexus", "roman-calibration"} <= set(specs)

    # Stop and start: the kernel is still offered, and it starts.
    nexus.stop_server(USER)
    _start(nexus, browser)
    assert _kernelspecs(api)["dev-astro"]["spec"]["display_name"] == "Dev astro"
    started = api.post("kernels", json={"name": "dev-astro"})
    assert started.status_code == 201, started.text
    kernel_id = started.json()["id"]
    try:
        ws_base = nexus.url.replace("http", "ws", 1)
        ws_url = f"{ws_base}/user/{USER}/api/kernels/{kernel_id}/channels"
        out = _execute(ws_url, token.json()["token"], "import sys; print(sys.prefix)")
    finally:
        api.delete(f"kernels/{kernel_id}")
    assert out.strip() == str(home / ".kernels" / "dev-astro")

    listed = subprocess.run(["kernel-list"], env=terminal, cwd=home, capture_output=True, text=True)
    assert listed.returncode == 0 and "dev-astro" in listed.stdout, listed.stderr
    deleted = subprocess.run(
        ["kernel-delete", "dev-astro"], env=terminal, cwd=home, capture_output=True, text=True
    )
    assert deleted.returncode == 0, deleted.stderr
    assert "dev-astro" not in _kernelspecs(api)
    nexus.stop_server(USER)
