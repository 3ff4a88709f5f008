"""The one rule from a hub username to the name of that person's directories.

Pods (home and scratch subPaths), the scanner, the purge, restore and the pages all name a
person's directory with `directory_name`. It must be injective, so that two people can never
share a directory: every byte outside `[a-z0-9_]` is written as `-` and two hex digits, and
`-` itself is such a byte, so the encoding is reversible (`username_of`). Plain lowercase names
map to themselves, which keeps existing directories of such names where they are.

KubeSpawner's own `{username}` slug is not used: it truncates a hash to 8 hex digits, so a
chosen username can be made to collide with another person's slug.

Standard library only: the hub image and the quota-service image both import this module.
"""

from __future__ import annotations

import re

SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_")
ESCAPE = "-"
# One path component on EFS (NFS) and most Linux file systems.
MAX_NAME_BYTES = 255
_ENCODED = re.compile(r"^(?:[a-z0-9_]|-[0-9a-f]{2})+$")


class UnmappableUsername(ValueError):
    """The username cannot name a directory; the message says why, for the person signing in."""


def directory_name(username: str) -> str:
    """The directory name of `username` (raises `UnmappableUsername`)."""
    if not username:
        raise UnmappableUsername("an empty username cannot name a directory")
    try:
        raw = username.encode("utf-8")
    except UnicodeEncodeError:
        raise UnmappableUsername("the username is not valid Unicode text") from None
    if b"\x00" in raw:
        raise UnmappableUsername("the username contains a NUL character")
    name = "".join(chr(b) if b in SAFE else f"{ESCAPE}{b:02x}" for b in raw)
    if len(name) > MAX_NAME_BYTES:
        raise UnmappableUsername(
            f"the username is too long to name a directory ({len(name)} bytes once encoded, "
            f"at most {MAX_NAME_BYTES}); ask an administrator for a shorter account name"
        )
    return name


def username_of(name: str) -> str | None:
    """The username whose directory is `name`, or None if no username maps to it."""
    if not _ENCODED.match(name):
        return None
    out = bytearray()
    i = 0
    while i < len(name):
        if name[i] == ESCAPE:
            byte = int(name[i + 1 : i + 3], 16)
            if byte in SAFE:
                return None  # a safe byte is never escaped: not a name this rule makes
            out.append(byte)
            i += 3
        else:
            out.append(ord(name[i]))
            i += 1
    try:
        username = out.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\x00" in username or directory_name(username) != name:
        return None
    return username


def check_username(username: str) -> str | None:
    """None if `username` can have directories, else the reason it cannot (for sign-in)."""
    try:
        directory_name(username)
    except UnmappableUsername as exc:
        return str(exc)
    return None
