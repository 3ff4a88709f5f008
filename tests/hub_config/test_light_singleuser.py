"""bench/light_singleuser.py, the benchmark-only single-user stand-in, against the real hub.

The hub (hub_config, local spawner, real quota service, OIDC stand-in) starts the light server
as its Spawner.cmd. Checked: the hub sees it ready and routes to it through CHP; a browser's
first visit goes through the hub's OAuth (authorize -> the server's oauth_callback) and ends on
the page with the server's cookie; the API needs that login (401 without, 403 for another
person's token); kernel creation needs the _xsrf; a kernel and a terminal websocket echo
through the proxy; the server's activity report moves the hub's last_activity forward; bad
requests get 4xx.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.support.oidc import OidcProvider
from tests.support.processes import TEST_OUTPUT, poll_until

from .stack import NexusStack, start_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LIGHT = Path(__file__).resolve().parents[2] / "bench" / "light_singleuser.py"
USER, OTHER = "ellen", "rosa"


@pytest.fixture(scope="module")
def light_stack(oidc_provider: OidcProvider) -> Iterator[NexusStack]:
    workdir = TEST_OUTPUT / "hub_config" / "test_light_singleuser"
    shutil.rmtree(workdir, ignore_errors=True)
    cmd = [sys.executable, str(LIGHT), "--activity-interval=1"]
    env = {"NEXUS_SINGLEUSER_CMD": json.dumps(cmd), "NEXUS_ACTIVITY_RESOLUTION_SECONDS": "1"}
    st = start_stack(workdir, oidc_provider, env=env)
    try:
        yield st
    finally:
        st.stop()


def cookie_header(client: httpx.Client, path: str) -> str:
    jar = client.cookies.jar
    return "; ".join(f"{c.name}={c.value}" for c in jar if path.startswith(c.path or "/"))


def xsrf(client: httpx.Client, path: str) -> str:
    return next(c.value or "" for c in client.cookies.jar if c.name == "_xsrf" and c.path == path)


def test_light_server_speaks_the_single_user_protocol(light_stack: NexusStack) -> None:
    st = light_stack
    browser = st.login(USER)
    resp = st.spawn(browser, {"profile": "small"})
    assert resp.status_code == 302, resp.text
    server = st.wait_ready(USER)
    assert server["url"] == f"/user/{USER}/"
    pid = int(server["state"]["pid"])
    assert "light_singleuser.py" in Path(f"/proc/{pid}/cmdline").read_bytes().decode()

    prefix = f"/user/{USER}/"
    # Without a login: the API refuses, the page sends the browser to the hub's OAuth.
    anon = httpx.Client(base_url=st.hub.url, timeout=30)
    assert anon.get(prefix + "api/kernels").status_code == 401
    first = anon.get(prefix + "lab")
    assert first.status_code == 302
    assert first.headers["location"].startswith("/hub/api/oauth2/authorize?")
    assert anon.get(prefix + "api").json() == {"version": "light-benchmark-stand-in"}
    anon.close()

    # The browser's visit: hub OAuth round trip, then the page with the server's cookie.
    page = browser.get(st.hub.url + prefix + "lab", follow_redirects=True)
    assert page.status_code == 200, page.text
    assert "Benchmark stand-in" in page.text
    assert str(page.url) == st.hub.url + prefix + "lab"
    # A callback without the state cookie's state is refused.
    bad = browser.get(st.hub.url + prefix + "oauth_callback?code=x&state=wrong")
    assert bad.status_code == 400

    api = st.hub.url + prefix + "api/"
    assert browser.get(api + "kernels").json() == []
    assert browser.post(api + "kernels").status_code == 403  # no _xsrf
    kernel = browser.post(api + "kernels", headers={"X-XSRFToken": xsrf(browser, prefix)})
    assert kernel.status_code == 201
    kid = kernel.json()["id"]
    assert [k["id"] for k in browser.get(api + "kernels").json()] == [kid]
    assert browser.get(api + "kernels/" + "0" * 32).status_code == 404
    assert browser.get(api + "terminals").json() == []
    assert browser.get(api + "contents/../..").status_code == 404
    assert browser.get(api + "contents").json()["type"] == "directory"

    # Another person's hub token does not open this server.
    other = st.user_token(OTHER)
    assert httpx.get(api + "status", headers={"Authorization": f"token {other}"}).status_code == 403
    own = st.user_token(USER)
    status = httpx.get(api + "status", headers={"Authorization": f"token {own}"})
    assert status.status_code == 200 and status.json()["kernels"] == 1

    # Websockets through CHP: the kernel's status first, then echoes.
    ws_base = st.hub.url.replace("http://", "ws://")
    for path in (f"{prefix}api/kernels/{kid}/channels", f"{prefix}api/terminals/websocket/1"):
        with connect(
            ws_base + path, additional_headers={"Cookie": cookie_header(browser, path)}
        ) as ws:
            assert json.loads(ws.recv(timeout=30))["msg_type"] == "status"
            ws.send('{"msg_type": "ping"}')
            assert ws.recv(timeout=30) == '{"msg_type": "ping"}'
    # Without the cookie the websocket is refused.
    with pytest.raises(Exception, match="403"):
        connect(ws_base + f"{prefix}api/kernels/{kid}/channels", open_timeout=30)

    # The activity reports (every second here) move the hub's last_activity forward.
    before = st.server(USER)
    assert before is not None
    time.sleep(1)
    browser.get(api + "kernels")

    def later() -> str | None:
        now = st.server(USER)
        return now["last_activity"] if now else None

    poll_until(
        later,
        60,
        message="no activity report",
        until=lambda t: bool(t) and t > before["last_activity"],
    )
    deleted = browser.delete(api + "kernels/" + kid, headers={"X-XSRFToken": xsrf(browser, prefix)})
    assert deleted.status_code == 204
    st.stop_server(USER)
