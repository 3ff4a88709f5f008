"""Shards of the storage root: which Indexed Job pod measures or plans which directory.

A directory belongs to shard ``sha256(name) mod count``, where `name` is the directory's name
as stored (a user's directory name under the home and scratch roots, a team folder's
``team_dir``). SHA-256 and not Python's ``hash()``: the latter is salted per process, so two
pods would disagree. A user's home and scratch have the same name, so they land in one shard,
and that shard writes the user's whole snapshot.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

# Kubernetes sets this in each pod of an Indexed Job (0 .. completions-1).
INDEX_ENV = "JOB_COMPLETION_INDEX"


def shard_of(name: bytes | str, count: int) -> int:
    """The shard (0 .. count-1) that the directory called `name` belongs to."""
    if count <= 1:
        return 0
    digest = hashlib.sha256(os.fsencode(name)).digest()
    return int.from_bytes(digest[:8], "big") % count


@dataclass(frozen=True, slots=True)
class Shard:
    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"shard count must be at least 1 (got {self.count})")
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard index must be in 0..{self.count - 1} (got {self.index})")

    @property
    def whole(self) -> bool:
        return self.count == 1

    def holds(self, name: bytes | str) -> bool:
        return self.count == 1 or shard_of(name, self.count) == self.index

    @classmethod
    def resolve(cls, index: int | None, count: int | None, default_count: int = 1) -> Shard:
        """From the command line (whose --shard-index reads `JOB_COMPLETION_INDEX`, which
        Indexed Job pods get) and the configured count; no index means shard 0.

        Raises ValueError (a usage error) for an index out of range.
        """
        n = count if count is not None else default_count
        return cls(0 if index is None else index, n)
