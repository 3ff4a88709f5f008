"""A light single-user server for `bench/hub_load.py` ONLY: a benchmark stand-in.

It is never used outside bench/ (not by `make dev`, not in any image or chart). A real
`jupyterhub-singleuser` (JupyterLab and jupyter-server) costs ~150 MB and seconds of CPU per
person, which this 2-core machine cannot give 300 people; this server speaks the parts of the
single-user protocol that load the hub and the proxy, in one tornado process (~30 MB):

- it reads what JupyterHub's spawner passes in the environment (JUPYTERHUB_SERVICE_URL,
  JUPYTERHUB_SERVICE_PREFIX, JUPYTERHUB_API_URL, JUPYTERHUB_API_TOKEN, JUPYTERHUB_CLIENT_ID,
  JUPYTERHUB_OAUTH_CALLBACK_URL, JUPYTERHUB_OAUTH_ACCESS_SCOPES, JUPYTERHUB_ACTIVITY_URL...);
- browsers sign in with the hub's OAuth: a page without a session redirects to the hub's
  authorize endpoint, `oauth_callback` exchanges the code at the hub's token endpoint (client
  secret = JUPYTERHUB_API_TOKEN) and checks the token's scopes against the access scopes, as
  jupyterhub-singleuser does; tokens in an Authorization header are checked at the hub's
  /api/user (cached for `TOKEN_CACHE_SECONDS`);
- it serves `api`, `api/status`, `api/kernels` (list, create with the `_xsrf` check, delete),
  `api/kernels/<id>/channels` and `api/terminals/websocket/<name>` websockets (messages are
  echoed back), `api/terminals`, `api/sessions` and `api/contents` (the home folder's real
  listing);
- every JUPYTERHUB_ACTIVITY_INTERVAL seconds (300, jupyterhub-singleuser's default) it POSTs its
  last activity to JUPYTERHUB_ACTIVITY_URL with its API token.

There are no kernels: a kernel is an id, its channel an echo.

    python bench/light_singleuser.py [ignored jupyter-server options]   # run by the hub
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlparse

from tornado import httpclient, ioloop, web, websocket

TOKEN_CACHE_SECONDS = 300.0


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class HubConfig:
    """What the hub's spawner tells a single-user server, from its environment."""

    user: str
    server_name: str
    prefix: str
    port: int
    api_url: str
    api_token: str
    client_id: str
    callback_url: str
    access_scopes: frozenset[str]
    base_url: str
    activity_url: str
    activity_interval: float

    @classmethod
    def from_env(cls, env: dict[str, str]) -> HubConfig:
        missing = [
            k
            for k in ("JUPYTERHUB_USER", "JUPYTERHUB_API_TOKEN", "JUPYTERHUB_SERVICE_URL")
            if not env.get(k)
        ]
        if missing:
            raise SystemExit(f"light_singleuser: not started by a hub (missing {missing})")
        service = urlparse(env["JUPYTERHUB_SERVICE_URL"])
        prefix = env.get("JUPYTERHUB_SERVICE_PREFIX") or service.path or "/"
        return cls(
            user=env["JUPYTERHUB_USER"],
            server_name=env.get("JUPYTERHUB_SERVER_NAME", ""),
            prefix=prefix if prefix.endswith("/") else prefix + "/",
            port=service.port or 8888,
            api_url=env.get("JUPYTERHUB_API_URL", "http://127.0.0.1:8081/hub/api").rstrip("/"),
            api_token=env["JUPYTERHUB_API_TOKEN"],
            client_id=env.get("JUPYTERHUB_CLIENT_ID", ""),
            callback_url=env.get("JUPYTERHUB_OAUTH_CALLBACK_URL", prefix + "oauth_callback"),
            access_scopes=frozenset(json.loads(env.get("JUPYTERHUB_OAUTH_ACCESS_SCOPES", "[]"))),
            base_url=env.get("JUPYTERHUB_BASE_URL", "/"),
            activity_url=env.get("JUPYTERHUB_ACTIVITY_URL", ""),
            activity_interval=float(env.get("JUPYTERHUB_ACTIVITY_INTERVAL", "300")),
        )

    @property
    def authorize_url(self) -> str:
        return self.base_url.rstrip("/") + "/hub/api/oauth2/authorize"


@dataclass
class State:
    hub: HubConfig
    started: float = field(default_factory=time.time)
    last_activity: float = field(default_factory=time.time)
    kernels: dict[str, dict[str, Any]] = field(default_factory=dict)
    sockets: int = 0
    tokens: dict[str, tuple[float, dict[str, Any] | None]] = field(default_factory=dict)
    http: httpclient.AsyncHTTPClient = field(default_factory=httpclient.AsyncHTTPClient)

    def allowed(self, model: dict[str, Any] | None) -> bool:
        """The hub's answer for a token grants access to this server (its access scopes)."""
        if not model:
            return False
        scopes = set(model.get("scopes") or [])
        return bool(scopes & self.hub.access_scopes) or (
            not self.hub.access_scopes and model.get("name") == self.hub.user
        )

    async def identify(self, token: str) -> dict[str, Any] | None:
        """The hub's model of a token's owner, None if the hub does not know the token."""
        cached = self.tokens.get(token)
        if cached and time.monotonic() - cached[0] < TOKEN_CACHE_SECONDS:
            return cached[1]
        resp = await self.http.fetch(
            self.hub.api_url + "/user",
            headers={"Authorization": f"token {token}"},
            raise_error=False,
        )
        model = json.loads(resp.body) if resp.code == 200 else None
        if resp.code in (200, 401, 403, 404):
            self.tokens[token] = (time.monotonic(), model)
        return model

    async def report_activity(self) -> None:
        """POST the last activity to the hub, as jupyterhub-singleuser does."""
        if not self.hub.activity_url:
            return
        stamp = iso(self.last_activity)
        body = {"servers": {self.hub.server_name: {"last_activity": stamp}}, "last_activity": stamp}
        resp = await self.http.fetch(
            self.hub.activity_url,
            method="POST",
            headers={
                "Authorization": f"token {self.hub.api_token}",
                "Content-Type": "application/json",
            },
            body=json.dumps(body),
            raise_error=False,
        )
        if resp.code >= 400:
            print(f"activity report refused: {resp.code}", file=sys.stderr, flush=True)


class Base(web.RequestHandler):
    @property
    def state(self) -> State:
        return self.settings["state"]  # type: ignore[no-any-return]

    @property
    def cookie_name(self) -> str:
        return self.state.hub.client_id or f"jupyterhub-user-{self.state.hub.user}"

    def check_xsrf_cookie(self) -> None:
        """Cookie-authenticated writes carry the _xsrf cookie's value in X-XSRFToken (token
        requests need not)."""
        if self.request.headers.get("Authorization"):
            return
        cookie = self.get_cookie("_xsrf")
        sent = self.request.headers.get("X-XSRFToken") or self.get_argument("_xsrf", "")
        if not cookie or sent != cookie:
            raise web.HTTPError(403, "_xsrf argument missing or wrong")

    async def prepare(self) -> None:
        # No X-JupyterHub-Version header: this server has no jupyterhub package (the hub logs
        # "version unknown" once per spawn).
        auth = self.request.headers.get("Authorization", "")
        token = auth.split(None, 1)[1] if auth.lower().startswith(("token ", "bearer ")) else None
        if token is None:
            signed = self.get_signed_cookie(self.cookie_name, max_age_days=1)
            token = signed.decode() if signed else None
        model = await self.state.identify(token) if token else None
        self.current_user = model if self.state.allowed(model) else None
        if self.current_user is not None:
            self.state.last_activity = time.time()

    def require_user(self, page: bool = False) -> None:
        if self.current_user is not None:
            return
        if page and self.request.method == "GET":
            self.redirect(self.login_url())
            raise web.Finish()
        raise web.HTTPError(403 if self.request.headers.get("Authorization") else 401)

    def login_url(self) -> str:
        """The hub's authorize endpoint; the state cookie remembers where to come back."""
        state = secrets.token_urlsafe(16)
        self.set_signed_cookie(
            self.cookie_name + "-oauth-state",
            json.dumps({"state": state, "next": self.request.uri}),
            path=self.state.hub.prefix,
            httponly=True,
        )
        query = urlencode(
            {
                "client_id": self.state.hub.client_id,
                "redirect_uri": self.state.hub.callback_url,
                "response_type": "code",
                "state": state,
            }
        )
        return f"{self.state.hub.authorize_url}?{query}"

    def write_json(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(value))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": self._reason}))


class OAuthCallback(Base):
    """The hub sends the browser here with a code: exchange it for a token, keep it in a
    signed cookie, go back where the person was going."""

    async def get(self) -> None:
        raw = self.get_signed_cookie(self.cookie_name + "-oauth-state", max_age_days=1)
        saved = json.loads(raw) if raw else {}
        if not saved or self.get_argument("state", "") != saved.get("state"):
            raise web.HTTPError(400, "OAuth state missing or wrong")
        code = self.get_argument("code", "")
        if not code:
            raise web.HTTPError(400, "no OAuth code")
        body = urlencode(
            {
                "client_id": self.state.hub.client_id,
                "client_secret": self.state.hub.api_token,
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.state.hub.callback_url,
            }
        )
        resp = await self.state.http.fetch(
            self.state.hub.api_url + "/oauth2/token",
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=body,
            raise_error=False,
        )
        if resp.code != 200:
            raise web.HTTPError(403, f"the hub refused the OAuth code: {resp.code}")
        token = json.loads(resp.body)["access_token"]
        if not self.state.allowed(await self.state.identify(token)):
            raise web.HTTPError(403, "this token may not use this server")
        self.clear_cookie(self.cookie_name + "-oauth-state", path=self.state.hub.prefix)
        self.set_signed_cookie(self.cookie_name, token, path=self.state.hub.prefix, httponly=True)
        self.redirect(saved.get("next") or self.state.hub.prefix)


class Root(Base):
    def get(self) -> None:
        self.redirect(self.state.hub.prefix + "lab")


class Lab(Base):
    """The page a browser opens: sets the _xsrf cookie the API writes need."""

    def get(self) -> None:
        self.require_user(page=True)
        if not self.get_cookie("_xsrf"):
            self.set_cookie("_xsrf", secrets.token_urlsafe(24), path=self.state.hub.prefix)
        self.finish(
            "<!doctype html><title>light single-user server</title>"
            "<p>Benchmark stand-in (bench/light_singleuser.py), not JupyterLab.</p>"
        )


class ApiVersion(Base):
    def get(self) -> None:  # jupyter-server answers /api without a login
        self.write_json({"version": "light-benchmark-stand-in"})


class Status(Base):
    def get(self) -> None:
        self.require_user()
        self.write_json(
            {
                "started": iso(self.state.started),
                "last_activity": iso(self.state.last_activity),
                "connections": self.state.sockets,
                "kernels": len(self.state.kernels),
            }
        )


class Kernels(Base):
    def get(self) -> None:
        self.require_user()
        self.write_json(list(self.state.kernels.values()))

    def post(self) -> None:
        self.require_user()
        self.check_xsrf_cookie()
        kid = secrets.token_hex(16)
        kernel = {
            "id": kid,
            "name": "python3",
            "last_activity": iso(time.time()),
            "execution_state": "idle",
            "connections": 0,
        }
        self.state.kernels[kid] = kernel
        self.write_json(kernel, 201)


class Kernel(Base):
    def get(self, kid: str) -> None:
        self.require_user()
        if kid not in self.state.kernels:
            raise web.HTTPError(404, "no such kernel")
        self.write_json(self.state.kernels[kid])

    def delete(self, kid: str) -> None:
        self.require_user()
        self.check_xsrf_cookie()
        if self.state.kernels.pop(kid, None) is None:
            raise web.HTTPError(404, "no such kernel")
        self.set_status(204)
        self.finish()


class Empty(Base):
    """api/terminals and api/sessions: nothing running."""

    def get(self) -> None:
        self.require_user()
        self.write_json([])


class Contents(Base):
    """api/contents[/path]: the real listing of a folder of the home (the process's cwd)."""

    def get(self, path: str = "") -> None:
        self.require_user()
        root = os.path.realpath(os.getcwd())
        target = os.path.realpath(os.path.join(root, path.strip("/")))
        if target != root and not target.startswith(root + os.sep):
            raise web.HTTPError(404, "no such path")
        if not os.path.isdir(target):
            raise web.HTTPError(404, "no such folder")
        items = []
        with os.scandir(target) as entries:
            for entry in entries:
                info = entry.stat(follow_symlinks=False)
                items.append(
                    {
                        "name": entry.name,
                        "path": os.path.relpath(entry.path, root),
                        "type": "directory" if entry.is_dir() else "file",
                        "size": info.st_size,
                        "last_modified": iso(info.st_mtime),
                    }
                )
        self.write_json({"name": os.path.basename(target), "type": "directory", "content": items})


class Channels(websocket.WebSocketHandler):
    """A kernel's or a terminal's websocket: the same login as the API, then an echo."""

    @property
    def state(self) -> State:
        return self.settings["state"]  # type: ignore[no-any-return]

    async def get(self, *args: Any, **kwargs: Any) -> None:
        name = self.state.hub.client_id or f"jupyterhub-user-{self.state.hub.user}"
        raw = self.get_signed_cookie(name, max_age_days=1)
        model = await self.state.identify(raw.decode()) if raw else None
        if not self.state.allowed(model):
            self.set_status(403)
            self.finish()
            return
        kid = kwargs.get("kid")
        if kid is not None and kid not in self.state.kernels:
            self.set_status(404)
            self.finish()
            return
        await super().get(*args, **kwargs)

    def open(self, *args: Any, **kwargs: Any) -> None:
        self.state.sockets += 1
        self.state.last_activity = time.time()
        self.write_message(json.dumps({"msg_type": "status", "execution_state": "idle"}))

    def on_message(self, message: str | bytes) -> None:
        self.state.last_activity = time.time()
        self.write_message(message, binary=isinstance(message, bytes))

    def on_close(self) -> None:
        self.state.sockets -= 1


def make_app(hub: HubConfig) -> web.Application:
    p = hub.prefix
    state = State(hub)
    return web.Application(
        [
            (p, Root),
            (p + "lab/?.*", Lab),
            (p + "oauth_callback", OAuthCallback),
            (p + "api", ApiVersion),
            (p + "api/status", Status),
            (p + "api/kernels", Kernels),
            (p + r"api/kernels/(?P<kid>[0-9a-f]+)/channels", Channels),
            (p + r"api/kernels/([0-9a-f]+)", Kernel),
            (p + r"api/terminals/websocket/(?P<term>\w+)", Channels),
            (p + "api/terminals", Empty),
            (p + "api/sessions", Empty),
            (p + "api/contents/?(.*)", Contents),
        ],
        state=state,
        cookie_secret=secrets.token_bytes(32),
        xsrf_cookies=False,  # Base.check_xsrf_cookie checks writes itself
        websocket_ping_interval=None,
    )


def main() -> None:
    hub = HubConfig.from_env(dict(os.environ))
    # The hub's Spawner.args (e.g. --allow-root) are jupyter-server options: ignored here,
    # but for the benchmark's own --activity-interval=SECONDS.
    for arg in sys.argv[1:]:
        if arg.startswith("--activity-interval="):
            hub.activity_interval = float(arg.split("=", 1)[1])
    app = make_app(hub)
    app.listen(hub.port, address="127.0.0.1", xheaders=True)
    state: State = app.settings["state"]
    interval_ms = max(1.0, hub.activity_interval) * 1000
    ioloop.PeriodicCallback(state.report_activity, interval_ms, jitter=0.1).start()
    print(f"light single-user server for {hub.user} at {hub.prefix} on {hub.port}", flush=True)
    ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
