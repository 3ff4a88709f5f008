"""Rate limits and the negative token cache (issue 15 item 6), against the real service.

Requests come from 127.0.0.1, a trusted proxy by default, with an X-Forwarded-For naming the
client as JupyterHub's proxy would; each test uses its own client addresses. Hub round trips
are counted from the real hub's own metrics (`GET /hub/api/user` is its SelfAPIHandler).
"""

from __future__ import annotations

import secrets
import uuid

import httpx
import pytest

from tests.support.quota import QuotaStack

pytestmark = pytest.mark.integration
JUSTIFICATION = "Transient alerts in the High Latitude Time Domain Survey; large servers."


def hub_token_lookups(stack: QuotaStack) -> float:
    """How many times the hub has answered `GET /hub/api/user`, whatever the answer."""
    with httpx.Client(timeout=30) as client:
        text = client.get(
            stack.hub.hub_url + "/hub/metrics",
            headers={"Authorization": f"token {stack.admin_service_token}"},
        ).text
    return sum(
        float(line.rsplit(None, 1)[1])
        for line in text.splitlines()
        if line.startswith("jupyterhub_request_duration_seconds_count{")
        and "SelfAPIHandler" in line
    )


def client_at(stack: QuotaStack, address: str, token: str | None = None) -> httpx.Client:
    headers = {"X-Forwarded-For": address}
    if token:
        headers["Authorization"] = f"token {token}"
    return httpx.Client(base_url=stack.api_url, headers=headers, timeout=30)


def address() -> str:
    return f"198.18.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


def assert_limited(resp: httpx.Response) -> None:
    assert resp.status_code == 429, resp.text
    assert int(resp.headers["Retry-After"]) >= 1
    body = resp.json()
    assert body["code"] == "rate_limited" and "retry" in body["detail"]


def test_random_tokens_cost_few_hub_round_trips(stack: QuotaStack) -> None:
    before = hub_token_lookups(stack)
    statuses: list[int] = []
    with client_at(stack, address()) as api:
        for _ in range(300):
            resp = api.get("me", headers={"Authorization": f"token {secrets.token_hex(16)}"})
            statuses.append(resp.status_code)
            if resp.status_code == 429:
                assert_limited(resp)
    trips = hub_token_lookups(stack) - before
    # 20 refused tokens per client and process (two worker processes on PostgreSQL).
    assert trips <= 50, trips
    assert set(statuses) == {401, 429}
    assert statuses.count(429) >= 250
    # Another client is not affected.
    with client_at(stack, address(), "not-a-token") as other:
        assert other.get("me").status_code == 401


def test_a_refused_token_is_remembered(stack: QuotaStack) -> None:
    bad = secrets.token_hex(16)
    before = hub_token_lookups(stack)
    with client_at(stack, address(), bad) as api:
        assert {api.get("me").status_code for _ in range(30)} == {401}
    assert hub_token_lookups(stack) - before <= 2  # once per worker process


def test_anonymous_flood_from_one_client(stack: QuotaStack) -> None:
    with client_at(stack, address()) as api:
        for _ in range(1000):
            resp = api.get("me")
            if resp.status_code != 401:
                break
        assert_limited(resp)
    with client_at(stack, address()) as other:
        assert other.get("me").status_code == 401


def test_one_person_flood_from_many_addresses(stack: QuotaStack) -> None:
    name = f"flood-{uuid.uuid4().hex[:6]}"
    token = stack.user_token(name)
    with httpx.Client(base_url=stack.api_url, timeout=30) as api:
        for _ in range(1000):
            resp = api.get(
                "me", headers={"Authorization": f"token {token}", "X-Forwarded-For": address()}
            )
            if resp.status_code != 200:
                break
        assert_limited(resp)
        assert name in resp.json()["detail"]


def test_hub_tokens_are_never_limited(stack: QuotaStack) -> None:
    # One connection throughout, so one worker process: limits are kept per process.
    flooded = {"X-Forwarded-For": address()}
    hub_tokens = (stack.hook_token, stack.jobs_token)
    with httpx.Client(base_url=stack.api_url, headers=flooded, timeout=30) as api:
        for token in hub_tokens:  # known to this process once used, as the hub's tokens are
            assert api.get("hub/sessions", headers=auth(token)).status_code == 200
        for _ in range(300):
            api.get("me", headers=auth(secrets.token_hex(16)))
        assert api.get("me").status_code == 429
        # From the same address, far past every limit, the hook's and the jobs' calls go
        # through, past the per-person burst (120) too.
        for token in hub_tokens:
            assert api.get("hub/sessions", headers=auth(token)).status_code == 200
            statuses = {
                api.post(
                    "hub/spawn-decisions",
                    json={"username": f"h-{uuid.uuid4().hex[:6]}", "size": "small"},
                    headers=auth(token),
                ).status_code
                for _ in range(130)
            }
            assert statuses == {200}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


def test_filing_requests_is_limited_per_person(stack: QuotaStack) -> None:
    name = f"filer-{uuid.uuid4().hex[:6]}"
    with stack.api(stack.user_token(name)) as me:
        for _ in range(10):
            filed = me.post(
                "me/requests", json={"tier": "research", "justification": JUSTIFICATION}
            )
            assert filed.status_code == 201, filed.text
            withdrawn = me.post(f"me/requests/{filed.json()['id']}/withdraw")
            assert withdrawn.status_code == 200, withdrawn.text
        refused = me.post("me/requests", json={"tier": "research", "justification": JUSTIFICATION})
        assert refused.status_code == 429, refused.text
        assert refused.json()["code"] == "too_many_requests_filed"
        assert "10 requests in the last 24 hours" in refused.json()["detail"]
        assert 0 < int(refused.headers["Retry-After"]) <= 24 * 3600
        # Nothing was filed by the refused attempt.
        assert len(me.get("me/requests").json()) == 10
    # Others are not affected.
    with stack.api(stack.user_token(f"other-{uuid.uuid4().hex[:6]}")) as other:
        filed = other.post("me/requests", json={"tier": "research", "justification": JUSTIFICATION})
        assert filed.status_code == 201, filed.text
