"""Rate limits at the HTTP edge: token buckets per key, kept in this process.

Each process (each `serve --workers` worker, each replica) has its own buckets: with N of
them a client may get up to N times a limit when its connections land on different ones.
The limits are there to stop floods, not to meter anyone exactly.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .errors import QuotaError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class RateLimited(QuotaError):
    """Too many requests; `retry_after` is in whole seconds (the `Retry-After` header)."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.retry_after = max(1, retry_after)


@dataclass(frozen=True)
class Rate:
    per_minute: float
    burst: int

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0


class Buckets:
    """One token bucket per key, at most `max_keys` of them (the least recently used go:
    a forgotten key starts again full, which only ever errs towards letting through)."""

    def __init__(
        self,
        rate: Rate,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _level(self, key: str, now: float) -> float:
        hit = self._buckets.get(key)
        if hit is None:
            return float(self.rate.burst)
        tokens, stamp = hit
        return min(float(self.rate.burst), tokens + (now - stamp) * self.rate.per_second)

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)

    def retry_after(self, key: str) -> int:
        """0 when a request may pass now, else the seconds until one may."""
        level = self._level(key, self.clock())
        if level >= 1.0:
            return 0
        return math.ceil((1.0 - level) / self.rate.per_second)

    def take(self, key: str) -> int:
        """Take one token: 0 when taken, else the seconds to wait (nothing is taken)."""
        now = self.clock()
        level = self._level(key, now)
        if level < 1.0:
            return math.ceil((1.0 - level) / self.rate.per_second)
        self._store(key, level - 1.0, now)
        return 0

    def charge(self, key: str) -> None:
        """Take one token even if that empties the bucket (a cost found out afterwards)."""
        now = self.clock()
        self._store(key, max(0.0, self._level(key, now) - 1.0), now)


def networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """IP addresses or CIDR blocks; raises ValueError naming the bad one."""
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or CIDR block") from None
    return tuple(out)


def is_in(address: str, nets: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in nets)


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]
) -> str:
    """Who is asking: the peer, or, when the peer is a trusted proxy, the right-most address
    of X-Forwarded-For that is not a trusted proxy (each proxy appends the address it saw;
    what a client writes itself stays on the left, where it is not believed)."""
    address = peer or "unknown"
    if not forwarded_for or not is_in(address, trusted):
        return address
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        address = hop
        if not is_in(hop, trusted):
            break
    return address
