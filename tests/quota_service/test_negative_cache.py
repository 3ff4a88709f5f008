"""The resolver's negative cache and its hub-token memory, against a real JupyterHub
(issue 15 item 6): a refused token is refused again without a hub round trip, for a while."""

from __future__ import annotations

import pytest

from quota_service.auth import HubTokenResolver
from quota_service.errors import NotAuthenticated
from tests.support.quota import QuotaStack

from .test_token_resolver import HandClock, counting_resolver

pytestmark = pytest.mark.integration


def resolver_for(
    stack: QuotaStack, clock: HandClock, *, negative: float = 60.0, entries: int = 10_000
) -> tuple[HubTokenResolver, list[str]]:
    return counting_resolver(
        stack, 30.0, clock, negative_cache_seconds=negative, max_entries=entries
    )


async def refuse(resolver: HubTokenResolver, token: str) -> None:
    with pytest.raises(NotAuthenticated, match="not valid"):
        await resolver.resolve(token)


async def test_a_refused_token_is_refused_again_without_asking(stack: QuotaStack) -> None:
    clock = HandClock()
    resolver, asked = resolver_for(stack, clock)
    try:
        assert resolver.needs_lookup("bad-1")
        for _ in range(5):
            await refuse(resolver, "bad-1")
        assert len(asked) == 1
        assert not resolver.needs_lookup("bad-1")
        clock.now += 61  # the entry expires: the hub is asked again
        assert resolver.needs_lookup("bad-1")
        await refuse(resolver, "bad-1")
        assert len(asked) == 2
    finally:
        await resolver.aclose()


async def test_the_negative_cache_is_bounded(stack: QuotaStack) -> None:
    resolver, asked = resolver_for(stack, HandClock(), entries=2)
    try:
        for token in ("bad-a", "bad-b", "bad-c"):
            await refuse(resolver, token)
        await refuse(resolver, "bad-c")  # kept
        await refuse(resolver, "bad-a")  # dropped as the least recent: asked again
    finally:
        await resolver.aclose()
    assert len(asked) == 4


async def test_zero_turns_the_negative_cache_off(stack: QuotaStack) -> None:
    resolver, asked = resolver_for(stack, HandClock(), negative=0)
    try:
        await refuse(resolver, "bad-z")
        await refuse(resolver, "bad-z")
    finally:
        await resolver.aclose()
    assert len(asked) == 2


async def test_hub_tokens_are_recognised_once_resolved(stack: QuotaStack) -> None:
    resolver, _ = resolver_for(stack, HandClock())
    person = stack.user_token("recognised")
    try:
        assert not resolver.is_hub_token(stack.hook_token)
        await resolver.resolve(stack.hook_token)
        await resolver.resolve(stack.jobs_token)
        await resolver.resolve(person)
        assert resolver.is_hub_token(stack.hook_token) and resolver.is_hub_token(stack.jobs_token)
        assert not resolver.is_hub_token(person)
    finally:
        await resolver.aclose()
