"""Request bodies at the edge (issue 15 item 2), against the real `nexus-quota serve` process.

A 64 MiB body is answered while the client is still sending it, and the server's peak memory
does not grow by the body's size: refused by its Content-Length (413), by the missing token
before any of it is read (401), or cut off while it streams in (413) for a signed-in caller.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from tests.support.quota import PREFIX, QuotaStack
from tests.support.rawhttp import Answer, peak_growth, reset_peak_memory, send_large_body

pytestmark = pytest.mark.integration
MIB = 1024 * 1024
HUGE = 64 * MIB
FILE_REQUEST = f"{PREFIX}api/v1/me/requests"


def send(stack: QuotaStack, headers: dict[str, str], *, chunked: bool, path: str = "") -> Answer:
    """64 MiB to `path` (filing a request by default), measuring the server's peak memory."""
    url = urlsplit(stack.url)
    assert url.hostname and url.port and stack.proc.pid
    before = reset_peak_memory(stack.proc.pid)
    answer = send_large_body(
        url.hostname,
        url.port,
        "POST",
        path or FILE_REQUEST,
        {"Content-Type": "application/json", **headers},
        size=HUGE,
        chunked=chunked,
    )
    # Neither read nor buffered: answered long before the body was all sent ...
    assert answer.sent <= HUGE // 4, f"answered only after {answer.sent} bytes"
    # ... and no process of the service held anything like it in memory.
    assert peak_growth(before) < 16 * MIB
    return answer


def error_of(answer: Answer) -> dict[str, str]:
    body = json.loads(answer.body)
    assert set(body) == {"detail", "code"} and body["detail"]
    return dict(body)


def test_anonymous_huge_body_with_length_is_refused_unread(stack: QuotaStack) -> None:
    answer = send(stack, {}, chunked=False)
    assert answer.status == 413
    assert error_of(answer)["code"] == "body_too_large"
    assert answer.headers.get("connection") == "close"


def test_anonymous_huge_chunked_body_gets_401_before_it_is_read(stack: QuotaStack) -> None:
    answer = send(stack, {}, chunked=True)
    assert answer.status == 401
    assert error_of(answer)["code"] == "not_authenticated"


def test_refused_token_gets_401_before_the_body_is_read(stack: QuotaStack) -> None:
    answer = send(stack, {"Authorization": "token not-a-token-of-this-hub"}, chunked=True)
    assert answer.status == 401


def test_token_for_another_service_gets_403_before_the_body_is_read(stack: QuotaStack) -> None:
    other = stack.other_service_token  # type: ignore[attr-defined]
    answer = send(stack, {"Authorization": f"token {other}"}, chunked=True)
    assert answer.status == 403
    assert error_of(answer)["code"] == "forbidden"


def test_signed_in_huge_chunked_body_is_cut_off_at_the_limit(stack: QuotaStack) -> None:
    token = stack.user_token("big-body")
    answer = send(stack, {"Authorization": f"token {token}"}, chunked=True)
    assert answer.status == 413
    assert "1048576 bytes" in error_of(answer)["detail"]
    # The hub's hook is limited the same way: its token exempts it from rate limits only.
    hook = send(
        stack,
        {"Authorization": f"token {stack.hook_token}"},
        chunked=True,
        path=f"{PREFIX}api/v1/hub/spawn-decisions",
    )
    assert hook.status == 413


def test_bodies_within_the_limit_still_work(stack: QuotaStack) -> None:
    with stack.api(stack.user_token("small-body")) as api:
        resp = api.post(
            "me/requests",
            json={"tier": "research", "kind": "upgrade", "justification": "x" * 200},
        )
        assert resp.status_code == 201, resp.text
        assert api.post("me/requests", content=b"{" * (MIB + 1)).status_code == 413


def test_multipart_is_refused(stack: QuotaStack) -> None:
    with stack.api(stack.user_token("multipart")) as api:
        resp = api.post("me/requests", files={"f": ("a.txt", b"x" * 10)})
        assert resp.status_code == 415
        assert resp.json()["code"] == "unsupported_media_type"
