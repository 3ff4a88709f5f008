"""The one rule from a consortium's name to the name of its team folder and POSIX group.

A team folder is `<teams root>/<team_dir>` on EFS (and under the state directory in dev),
mounted at `/teams/<team_dir>` in every member's servers. The raw consortium name is never
used in a path: `team_dir` is lowercase `[a-z0-9-]`, starts with a letter, ends with a letter or
digit and has at most 32 characters, so it is also a valid group name on Linux.

A name that is already such a string maps to itself. Any other name (capitals, spaces,
punctuation, non-ASCII letters, too long) gets its readable part plus `-` and 8 hex digits of
a hash of the whole name, so two names that read alike ("Team A", "team a") never share a
folder. The quota service stores the result once, when the consortium is created
(`consortia.team_dir`, unique), and never derives it again; `unique_team_dir` resolves the
rare collision by salting the hash.

Standard library only: the hub image and the quota-service image both import this module.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Container

MAX_LENGTH = 32
HASH_LENGTH = 8
_TEAM_DIR = re.compile(r"^[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?$")
_UNSAFE_RUN = re.compile(r"[^a-z0-9]+")
_SALTS = 100


def is_team_dir(value: str) -> bool:
    """True if `value` is a name this rule can produce (the hub checks it before mounting)."""
    return bool(_TEAM_DIR.match(value)) and "--" not in value


def _readable(name: str) -> str:
    """Lowercase ASCII letters and digits of `name`, runs of anything else as one `-`."""
    folded = unicodedata.normalize("NFKD", name)
    ascii_only = "".join(c for c in folded if not unicodedata.combining(c)).lower()
    return _UNSAFE_RUN.sub("-", ascii_only.encode("ascii", "ignore").decode()).strip("-")


def _hashed(name: str, salt: int) -> str:
    text = name if salt == 0 else f"{name}\x00{salt}"
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return digest[:HASH_LENGTH]


def team_dir(name: str, salt: int = 0) -> str:
    """The team folder name of consortium `name` (`salt` > 0: an alternative, for a collision)."""
    if salt == 0 and is_team_dir(name):
        return name
    readable = _readable(name)
    if not readable or not readable[0].isalpha():
        readable = ("team-" + readable).rstrip("-")
    room = MAX_LENGTH - HASH_LENGTH - 1
    return f"{readable[:room].rstrip('-')}-{_hashed(name, salt)}"


def unique_team_dir(name: str, taken: Container[str] | Callable[[str], bool]) -> str:
    """`team_dir(name)`, or the first salted alternative that `taken` does not hold.

    Raises:
        ValueError: every alternative is taken (only possible if `taken` says yes to all).
    """
    is_taken = taken if callable(taken) else taken.__contains__
    for salt in range(_SALTS):
        candidate = team_dir(name, salt)
        if not is_taken(candidate):
            return candidate
    raise ValueError(f"no free team folder name for {name[:40]!r}")
