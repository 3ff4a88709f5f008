"""The simulated people of `bench/hub_load.py`: browsers in one asyncio process.

A person signs in through the OIDC stand-in (the hub's login -> the stand-in's authorize form
-> the hub's OAuth callback, over HTTP with httpx), posts the spawn form, waits for the hub to
report the server ready (polling /hub/api/user, as the spawn-pending page's progress does),
opens the lab page (the server's OAuth round trip through the hub), starts a kernel and keeps a
kernel and a terminal websocket open through the proxy, and polls as JupyterLab does until told
to stop: api/kernels, api/terminals and api/sessions every `poll` seconds, api/contents and the
hub's /hub/api/user every third poll, a hub page (/hub/home) every sixth. Every request is
bounded by a timeout, every loop by the run's stop event, and all of it goes to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets

REQUEST_TIMEOUT = 60.0
SPAWN_TIMEOUT = 180.0
ECHO_TIMEOUT = 20.0


@dataclass
class Recorder:
    """Timed samples and counted events, each stamped with time.monotonic()."""

    samples: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    events: dict[str, list[tuple[float, str]]] = field(default_factory=lambda: defaultdict(list))

    def sample(self, kind: str, seconds: float) -> None:
        self.samples[kind].append((time.monotonic(), seconds))

    def event(self, kind: str, detail: str = "") -> None:
        self.events[kind].append((time.monotonic(), detail[:300]))

    def window(self, start: float, end: float) -> tuple[dict[str, list[float]], dict[str, Any]]:
        samples = {k: [s for t, s in v if start <= t < end] for k, v in self.samples.items()}
        events = {
            k: {"count": len(hits), "examples": sorted({d for _, d in hits})[:3]}
            for k, v in self.events.items()
            if (hits := [(t, d) for t, d in v if start <= t < end])
        }
        return samples, events


def kind_of(path: str) -> str:
    if path.startswith("/hub/api/"):
        return "hub_api"
    if path.startswith("/hub/"):
        return "hub_page"
    return "server_api"


@dataclass
class Person:
    name: str
    hub_url: str  # through the proxy
    issuer: str
    rec: Recorder
    poll: float
    client: httpx.AsyncClient | None = None
    sockets: list[asyncio.Task[None]] = field(default_factory=list)
    leaving: asyncio.Event = field(default_factory=asyncio.Event)

    # --- HTTP, timed and counted by kind ---
    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        assert self.client is not None
        kind = kind_of(path)
        # What a browser adds: fetch() from JupyterLab (with the hub's _xsrf), or a page view.
        headers = kwargs.setdefault("headers", {})
        if kind == "hub_page":
            headers.update({"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "same-origin"})
        else:
            headers.update({"Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin"})
        if kind == "hub_api":
            headers.setdefault("X-XSRFToken", self.xsrf("/hub/"))
        t0 = time.perf_counter()
        try:
            resp = await self.client.request(method, self.hub_url + path, **kwargs)
        except httpx.HTTPError as exc:
            self.rec.event(f"{kind}_error", f"{method} {path}: {type(exc).__name__} {exc}")
            raise
        self.rec.sample(kind, time.perf_counter() - t0)
        if resp.status_code >= 400:
            self.rec.event(f"{kind}_error", f"{method} {path}: {resp.status_code}")
        return resp

    def xsrf(self, path: str) -> str:
        assert self.client is not None
        for cookie in self.client.cookies.jar:
            if cookie.name == "_xsrf" and path.startswith(cookie.path or "/"):
                return cookie.value or ""
        return ""

    def cookie_header(self, path: str) -> str:
        assert self.client is not None
        jar = self.client.cookies.jar
        return "; ".join(f"{c.name}={c.value}" for c in jar if path.startswith(c.path or "/"))

    # --- sign-in and spawn ---
    async def sign_in(self) -> None:
        """The real OAuth flow: hub -> stand-in's authorize form -> hub's callback."""
        if self.client is not None:
            await self.client.aclose()
        self.client = httpx.AsyncClient(timeout=REQUEST_TIMEOUT, follow_redirects=True)
        t0 = time.perf_counter()
        resp = await self.client.get(self.hub_url + "/hub/oauth_login")
        if not str(resp.url).startswith(self.issuer) or resp.status_code != 200:
            raise RuntimeError(f"login did not reach the provider: {resp.status_code} {resp.url}")
        resp = await self.client.post(str(resp.url), data={"sub": self.name, "action": "authorize"})
        if resp.status_code >= 400 or not str(resp.url).startswith(self.hub_url):
            raise RuntimeError(f"login refused: {resp.status_code} {resp.url}")
        self.rec.sample("signin", time.perf_counter() - t0)

    async def server(self) -> dict[str, Any] | None:
        resp = await self.request("GET", "/hub/api/user")
        resp.raise_for_status()
        servers: dict[str, Any] = resp.json().get("servers") or {}
        return servers.get("")

    async def spawn(self) -> None:
        """Post the spawn form (the quota hook decides) and wait until the server is ready."""
        page = f"/hub/spawn/{self.name}"
        form = await self.request("GET", page)
        form.raise_for_status()
        t0 = time.perf_counter()
        resp = await self.request(
            "POST",
            page,
            data={"profile": "small", "_xsrf": self.xsrf("/hub/")},
            follow_redirects=False,
        )
        if resp.status_code not in (302, 303):
            raise RuntimeError(f"{self.name}: spawn form refused: {resp.status_code}")
        deadline = time.monotonic() + SPAWN_TIMEOUT
        gone = 0
        while time.monotonic() < deadline:
            server = await self.server()
            if server and server.get("ready"):
                self.rec.sample("spawn", time.perf_counter() - t0)
                return
            if server is None:
                gone += 1
                if gone >= 3:  # three answers in a row without it, a second apart
                    raise RuntimeError(f"{self.name}: the server stopped while starting")
            else:
                gone = 0
            await asyncio.sleep(1.0)
        raise RuntimeError(f"{self.name}: not ready in {SPAWN_TIMEOUT} s")

    async def open_lab(self) -> str:
        """The lab page (the server's OAuth round trip) and a kernel; returns its id."""
        prefix = f"/user/{self.name}/"
        resp = await self.request("GET", prefix + "lab")
        if resp.status_code != 200 or not str(resp.url).startswith(self.hub_url + prefix):
            raise RuntimeError(f"lab page: {resp.status_code} {resp.url}")
        kernel = await self.request(
            "POST", prefix + "api/kernels", headers={"X-XSRFToken": self.xsrf(prefix)}
        )
        kernel.raise_for_status()
        return str(kernel.json()["id"])

    async def arrive(self) -> None:
        """Sign in, spawn, open the lab and its websockets; failures are counted, not raised."""
        try:
            await self.sign_in()
        except Exception as exc:  # the benchmark counts every failure
            self.rec.event("signin_failed", f"{type(exc).__name__}: {exc}")
            return
        try:
            await self.spawn()
            kid = await self.open_lab()
        except Exception as exc:
            self.rec.event("spawn_failed", f"{type(exc).__name__}: {exc}")
            return
        self.rec.event("arrived")
        self.leaving = asyncio.Event()
        prefix = f"/user/{self.name}/"
        for path in (f"api/kernels/{kid}/channels", "api/terminals/websocket/1"):
            self.sockets.append(asyncio.create_task(self.hold_socket(prefix + path)))

    # --- websockets ---
    async def hold_socket(self, path: str) -> None:
        """Keep a websocket open, sending a message every `poll` seconds and waiting for its
        echo; a close we did not ask for is a drop."""
        url = "ws" + self.hub_url.removeprefix("http") + path
        try:
            async with websockets.connect(
                url,
                additional_headers={"Cookie": self.cookie_header(path)},
                ping_interval=None,
                open_timeout=REQUEST_TIMEOUT,
                max_size=2**20,
            ) as ws:
                self.rec.event("ws_opened")
                await asyncio.wait_for(ws.recv(), ECHO_TIMEOUT)  # the kernel's status
                n = 0
                while not self.leaving.is_set():
                    n += 1
                    msg = json.dumps({"msg_type": "ping", "n": n, "who": self.name})
                    t0 = time.perf_counter()
                    await ws.send(msg)
                    if await asyncio.wait_for(ws.recv(), ECHO_TIMEOUT) != msg:
                        self.rec.event("ws_bad_echo", path)
                    self.rec.sample("ws_echo", time.perf_counter() - t0)
                    try:
                        await asyncio.wait_for(
                            self.leaving.wait(), self.poll * random.uniform(1, 2)
                        )
                    except TimeoutError:
                        pass
        except asyncio.CancelledError:
            raise
        except websockets.InvalidStatus as exc:
            self.rec.event("ws_open_failed", f"{path}: {exc}")
        except TimeoutError:
            self.rec.event("ws_timeout", path)
        except websockets.ConnectionClosed as exc:
            self.rec.event("ws_dropped", f"{path}: {exc}")
        except OSError as exc:
            self.rec.event("ws_open_failed", f"{path}: {type(exc).__name__} {exc}")

    # --- polling as JupyterLab does ---
    async def poll_once(self, n: int) -> None:
        prefix = f"/user/{self.name}/"
        paths = [prefix + "api/kernels", prefix + "api/terminals", prefix + "api/sessions"]
        if n % 3 == 0:
            paths += [prefix + "api/contents", "/hub/api/user"]
        if n % 6 == 0:
            paths.append("/hub/home")
        for path in paths:
            try:
                await self.request("GET", path)
            except httpx.HTTPError:
                pass  # counted by request()

    async def leave(self) -> None:
        """Close the websockets, stop the server through the hub's API, wait until it is gone."""
        self.leaving.set()
        for task in self.sockets:
            try:
                await asyncio.wait_for(task, ECHO_TIMEOUT + 5)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
        self.sockets.clear()
        try:
            resp = await self.request(
                "DELETE",
                f"/hub/api/users/{self.name}/server",
                headers={"X-XSRFToken": self.xsrf("/hub/")},
            )
            if resp.status_code not in (202, 204):
                raise RuntimeError(f"stop refused: {resp.status_code} {resp.text[:200]}")
            deadline = time.monotonic() + SPAWN_TIMEOUT
            while await self.server() is not None:
                if time.monotonic() > deadline:
                    raise RuntimeError("server still listed after the stop")
                await asyncio.sleep(1.0)
            self.rec.event("left")
        except Exception as exc:
            self.rec.event("stop_failed", f"{type(exc).__name__}: {exc}")

    @property
    def present(self) -> bool:
        return bool(self.sockets) and not self.leaving.is_set()

    async def close(self) -> None:
        self.leaving.set()
        for task in self.sockets:
            task.cancel()
        if self.client is not None:
            await self.client.aclose()
