"""Token look-ups against a real JupyterHub: shared while in flight, refreshed ahead of expiry."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from quota_service.auth import HubTokenResolver
from quota_service.errors import NotAuthenticated
from tests.support.quota import QuotaStack

pytestmark = pytest.mark.integration


class HandClock:
    """The resolver's clock, moved by the test: expiry without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def counting_resolver(
    stack: QuotaStack,
    cache_seconds: float,
    clock: HandClock | None = None,
    *,
    negative_cache_seconds: float = 60.0,
    max_entries: int = 10_000,
) -> tuple[HubTokenResolver, list[str]]:
    """A resolver against the real hub that records each request it makes there."""
    asked: list[str] = []

    async def count(request: httpx.Request) -> None:
        asked.append(request.url.path)

    client = httpx.AsyncClient(timeout=10.0, event_hooks={"request": [count]})
    resolver = HubTokenResolver(
        stack.hub.api_url,
        cache_seconds=cache_seconds,
        client=client,
        clock=clock or HandClock(),
        negative_cache_seconds=negative_cache_seconds,
        max_entries=max_entries,
    )
    return resolver, asked


async def test_concurrent_misses_share_one_hub_request(stack: QuotaStack) -> None:
    resolver, asked = counting_resolver(stack, cache_seconds=30)
    try:
        identities = await asyncio.gather(*(resolver.resolve(stack.hook_token) for _ in range(50)))
    finally:
        await resolver.aclose()
    assert len(asked) == 1
    assert {i.name for i in identities} == {identities[0].name}
    assert "custom:nexus-quota:spawn" in identities[0].scopes


async def test_an_entry_near_expiry_is_served_and_refreshed_in_the_background(
    stack: QuotaStack,
) -> None:
    clock = HandClock()
    resolver, asked = counting_resolver(stack, cache_seconds=40, clock=clock)
    try:
        first = await resolver.resolve(stack.hook_token)
        clock.now += 20  # half-way: served, nothing asked
        assert await resolver.resolve(stack.hook_token) == first
        assert len(asked) == 1
        clock.now += 15  # the last quarter: served at once, and refreshed behind
        assert await resolver.resolve(stack.hook_token) == first
        refreshing = list(resolver._lookups.values())
        assert len(refreshing) == 1
        await asyncio.gather(*refreshing)
        assert len(asked) == 2
        clock.now += 10  # past the first answer's expiry: the refreshed one serves
        assert await resolver.resolve(stack.hook_token) == first
        assert len(asked) == 2
    finally:
        await resolver.aclose()


async def test_a_bad_token_is_refused_and_remembered(stack: QuotaStack) -> None:
    # Refused tokens are remembered a while, so a flood of them does not reach the hub.
    resolver, asked = counting_resolver(stack, cache_seconds=30)
    try:
        for _ in range(2):
            with pytest.raises(NotAuthenticated, match="not valid"):
                await resolver.resolve("not-a-real-token")
    finally:
        await resolver.aclose()
    assert len(asked) == 1


async def test_a_forgotten_token_is_asked_about_again(stack: QuotaStack) -> None:
    """Sign-out drops the cached identity: the next use asks the hub, which has revoked it."""
    resolver, asked = counting_resolver(stack, cache_seconds=300)
    try:
        await resolver.resolve(stack.hook_token)
        await resolver.resolve(stack.hook_token)
        assert len(asked) == 1
        resolver.forget(stack.hook_token)
        await resolver.resolve(stack.hook_token)
    finally:
        await resolver.aclose()
    assert len(asked) == 2
