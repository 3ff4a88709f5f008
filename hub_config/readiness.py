"""Hand a new server to the hub the moment it answers, not at the hub's next back-off try.

After `Spawner.start` returns, JupyterHub waits for the server's HTTP API with a jittered
exponential back-off (0.2 s doubling up to 5 s between tries). A lab server that answers after
6 s is then seen, on average, a second or more later (docs/performance.md, "Sign-in: where the
time goes"). `ReadyPollMixin` makes `start` itself wait, at a fixed short interval, until the
server's `api` endpoint answers (any status below 500, as the hub accepts), until the server's
process has ended, or until `http_timeout`; then the hub's own wait succeeds at its first try.

`ready_poll_interval` (hub setting `spawner_ready_poll_seconds`) 0 switches it off. A server
that never answers is now given up after this wait and then the hub's own (up to twice
`http_timeout`), or at `start_timeout` if that comes first.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from jupyterhub.spawner import SimpleLocalProcessSpawner
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from traitlets import Float
from traitlets.config import Configurable


def server_api_url(started: Any, base_url: str) -> str | None:
    """The URL the hub will poll, from what `start` returned ((ip, port) or a URL)."""
    if isinstance(started, tuple) and len(started) == 2:
        ip, port = started
        host = "127.0.0.1" if ip in ("", "0.0.0.0") else str(ip)  # noqa: S104 - not a bind
        if ":" in host:
            host = f"[{host}]"
        root = f"http://{host}:{int(port)}"
    elif isinstance(started, str) and started.startswith("http://"):
        root = started.rstrip("/")
    else:
        return None  # https (internal SSL) or unknown: the hub's own wait alone
    return root + "/" + base_url.strip("/") + "/api" if base_url.strip("/") else root + "/api"


async def answers(client: AsyncHTTPClient, url: str) -> bool:
    try:
        await client.fetch(url, follow_redirects=False, request_timeout=2.0)
        return True
    except HTTPClientError as e:
        return e.code < 500
    except Exception:  # refused, reset, TLS, DNS, ...: not up yet; the hub's own wait decides
        return False


class ReadyPollMixin(Configurable):
    """For a Spawner class: `start` returns once the server answers (see the module doc)."""

    ready_poll_interval = Float(
        0.1,
        config=True,
        help="Seconds between checks that a starting server answers, inside start(); 0: off.",
    )

    async def start(self) -> Any:
        started = await super().start()  # type: ignore[misc]
        spawner: Any = self
        interval = float(self.ready_poll_interval)
        url = server_api_url(started, spawner.server.base_url if spawner.server else "/")
        if interval <= 0 or url is None:
            return started
        client = AsyncHTTPClient()
        deadline = time.monotonic() + float(spawner.http_timeout)
        tic = time.monotonic()
        while time.monotonic() < deadline:
            if await answers(client, url):
                spawner.log.info("%s answers after %.2fs", url, time.monotonic() - tic)
                break
            if await spawner.poll() is not None:
                break  # the process ended: the hub reports it as usual
            await asyncio.sleep(interval)
        return started


class ReadyLocalProcessSpawner(ReadyPollMixin, SimpleLocalProcessSpawner):  # type: ignore[misc]
    """`make dev`'s and the tests' spawner (the hub's "simple") with `ReadyPollMixin`."""


def ready_kube_spawner() -> type:
    """KubeSpawner with `ReadyPollMixin` (imported here: only the z2jh hub image has it)."""
    from kubespawner import KubeSpawner

    return type("ReadyKubeSpawner", (ReadyPollMixin, KubeSpawner), {})
