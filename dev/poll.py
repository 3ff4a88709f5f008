"""One way to wait for something outside the process: ask again until the answer is right.

    server = poll_until(lambda: hub.server("ellen"), 120, 0.2, "ellen's server is not ready",
                        until=lambda s: bool(s and s["ready"]))

`make dev` waits for its processes with it, and the tests (tests/support re-exports it) for
servers, files and restores. On timeout it raises `PollTimeout` with the message and the last
answer seen, so a failure says what was still wrong.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class PollTimeout(TimeoutError):
    """The answer was still not right when the time was up; `last` is what was seen last."""

    def __init__(self, message: str, last: object, timeout: float) -> None:
        super().__init__(f"{message} (within {timeout:g} s; last seen: {last!r})")
        self.message = message
        self.last = last


class _Deadline:
    def __init__(self, timeout: float, message: str) -> None:
        self.timeout = timeout
        self.message = message
        self.at = time.monotonic() + timeout

    def settled(self, value: T, until: Callable[[T], object]) -> bool:
        """True when `value` is the answer; raises once the time is up."""
        if until(value):
            return True
        if time.monotonic() >= self.at:
            raise PollTimeout(self.message, value, self.timeout)
        return False


def poll_until(
    predicate: Callable[[], T],
    timeout: float,
    interval: float = 0.2,
    message: str = "the condition did not hold",
    *,
    until: Callable[[T], object] = bool,
) -> T:
    """Call `predicate` every `interval` seconds until `until(answer)` holds (by default: the
    answer is truthy) and return that answer. An exception from `predicate` ends the wait."""
    deadline = _Deadline(timeout, message)
    while not deadline.settled(value := predicate(), until):
        time.sleep(interval)
    return value


# The state polled lives in another process or thread, with no event to wait on.
async def poll_until_async(
    predicate: Callable[[], Awaitable[T]],
    timeout: float,  # noqa: ASYNC109 - it bounds the polling, not one call
    interval: float = 0.2,
    message: str = "the condition did not hold",
    *,
    until: Callable[[T], object] = bool,
) -> T:
    """`poll_until` for a coroutine `predicate`, sleeping without blocking the event loop."""
    deadline = _Deadline(timeout, message)
    while not deadline.settled(value := await predicate(), until):  # noqa: ASYNC110
        await asyncio.sleep(interval)
    return value
