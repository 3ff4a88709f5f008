"""The edge's pure parts: token buckets and the client address behind trusted proxies."""

from __future__ import annotations

import pytest

from quota_service.limits import Buckets, Rate, client_address, networks


def test_bucket_refills_and_says_when() -> None:
    now = [0.0]
    buckets = Buckets(Rate(per_minute=60, burst=3), clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("a") == 1  # one per second
    assert buckets.take("b") == 0  # keys are apart
    now[0] += 1.0
    assert buckets.take("a") == 0
    buckets.charge("a")  # a cost found out afterwards, even when empty
    assert buckets.retry_after("a") == 1


def test_bucket_table_is_bounded() -> None:
    buckets = Buckets(Rate(per_minute=1, burst=1), max_keys=2, clock=lambda: 0.0)
    for key in ("a", "b", "c"):
        assert buckets.take(key) == 0
    assert len(buckets._buckets) == 2


def test_client_address_believes_only_trusted_proxies() -> None:
    trusted = networks(["10.0.0.0/8", "127.0.0.1"])
    # Through the proxy: the address the proxy appended, not what the client wrote.
    assert client_address("10.1.2.3", "6.6.6.6, 203.0.113.9", trusted) == "203.0.113.9"
    assert client_address("10.1.2.3", "203.0.113.9, 10.9.9.9", trusted) == "203.0.113.9"
    # Not from a proxy: the header is the client's own word.
    assert client_address("198.51.100.1", "203.0.113.9", trusted) == "198.51.100.1"
    assert client_address("10.1.2.3", None, trusted) == "10.1.2.3"
    with pytest.raises(ValueError, match="'nope'"):
        networks(["nope"])
