"""hub_config/readiness.py: the URL a starting server is checked at, and what counts as an
answer (as the hub counts it: any status below 500), against real servers on loopback."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from jupyterhub.spawner import SimpleLocalProcessSpawner
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.web import Application, RequestHandler
from traitlets.config import Config

from hub_config.config import configure_local
from hub_config.readiness import (
    ReadyLocalProcessSpawner,
    ReadyPollMixin,
    answers,
    server_api_url,
)
from hub_config.settings import load_settings


def test_server_api_url_from_what_start_returns() -> None:
    assert server_api_url(("127.0.0.1", 8888), "/user/ellen/") == (
        "http://127.0.0.1:8888/user/ellen/api"
    )
    assert server_api_url(("", 8888), "/user/ellen/") == "http://127.0.0.1:8888/user/ellen/api"
    assert server_api_url(("::1", 9), "/user/a/") == "http://[::1]:9/user/a/api"
    assert server_api_url("http://10.0.0.5:8888", "/user/ellen/team1/") == (
        "http://10.0.0.5:8888/user/ellen/team1/api"
    )
    assert server_api_url("http://10.0.0.5:8888/", "/") == "http://10.0.0.5:8888/api"
    # internal SSL or anything unknown: the hub's own wait alone
    assert server_api_url("https://10.0.0.5:8888", "/user/ellen/") is None
    assert server_api_url(None, "/user/ellen/") is None


class Status(RequestHandler):
    def get(self, code: str) -> None:
        self.set_status(int(code))
        self.finish("")


@pytest.fixture
async def server() -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    http = HTTPServer(Application([(r"/status/(\d+)", Status)]))
    http.add_sockets([sock])
    yield sock.getsockname()[1]
    http.stop()


async def test_answers_like_the_hub(server: int) -> None:
    client = AsyncHTTPClient()
    base = f"http://127.0.0.1:{server}"
    assert await answers(client, f"{base}/status/200")
    assert await answers(client, f"{base}/status/302")  # not followed: the login redirect
    assert await answers(client, f"{base}/status/404")
    assert not await answers(client, f"{base}/status/503")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    assert not await answers(client, f"http://127.0.0.1:{port}/user/x/api")


def test_local_hub_uses_the_ready_spawner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTERHUB_CRYPT_KEY", os.urandom(32).hex())
    c = Config()
    oidc = "http://127.0.0.1:9/oidc"  # explicit endpoints: no discovery needed
    settings = load_settings(
        {
            "state_dir": str(tmp_path),
            "spawner_ready_poll_seconds": 0.25,
            "oidc_authorize_url": f"{oidc}/authorize",
            "oidc_token_url": f"{oidc}/token",
            "oidc_userinfo_url": f"{oidc}/userinfo",
        }
    )
    configure_local(c, settings)
    assert c.JupyterHub.spawner_class is ReadyLocalProcessSpawner
    assert issubclass(ReadyLocalProcessSpawner, SimpleLocalProcessSpawner)
    assert c.ReadyPollMixin.ready_poll_interval == 0.25
    assert issubclass(ReadyLocalProcessSpawner, ReadyPollMixin)
    # the trait reads its configured value on a real spawner object
    spawner = ReadyLocalProcessSpawner(config=c)
    assert spawner.ready_poll_interval == 0.25
    assert ReadyLocalProcessSpawner().ready_poll_interval == 0.1
