"""Purge manifests: one JSON-lines file per user and area, streamed in and out.

Line 1 is the header, a JSON object (who, which root, why, when the run may act, and the names
of the entry columns). Every later line is one entry, tab-separated ASCII (``COLUMNS``): what the
path was when planned (type, size, times, device, inode, mode, owner, link count), the action,
the path relative to the user's root as base64, and for archives the object key (``-`` when
none) and a symlink's target as base64. Tab-separated lines parse several times faster than
JSON objects, which matters at 100,000 entries; ``Entry.to_json`` gives the readable form
(with a ``display`` path, invalid UTF-8 shown as ``\\xNN``) for the API and pages.

Reading a manifest validates each path: relative, no empty, ``.`` or ``..`` component, no NUL.
A tampered manifest therefore cannot name anything outside the root. The plan stores each
file's SHA-256 (``ManifestWriter.digest``) in its database row; readers check a private copy
(``copy_hashed``) against it, see ``services/manifest_guard.py``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import operator
import os
import secrets
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote_from_bytes

from hub_config.userdirs import directory_name

MANIFEST_VERSION = 2

# Actions
DELETE = "delete"
ARCHIVE = "archive"
RMDIR = "rmdir"
ACTIONS = (DELETE, ARCHIVE, RMDIR)

# Reasons
SCRATCH_RETENTION = "scratch-retention"
HOME_INACTIVE = "home-inactive"
HOME_ALLOCATION_ENDED = "home-allocation-ended"
OVER_QUOTA_LRU = "over-quota-lru"
REASONS = (SCRATCH_RETENTION, HOME_INACTIVE, HOME_ALLOCATION_ENDED, OVER_QUOTA_LRU)

MAX_KEY_BYTES = 1024
KINDS = ("file", "symlink", "dir")
# What a path was when planned: Entry's fields of these names, in this order, are the stat
# result's st_NAME; each is one integer column of a line and one key of the JSON form.
STAT_FIELDS = (
    "size",
    "atime_ns",
    "mtime_ns",
    "ctime_ns",
    "dev",
    "ino",
    "mode",
    "uid",
    "gid",
    "nlink",
)
COLUMNS = ("seq", "type", "action", *STAT_FIELDS, "path_b64", "archive_key", "link_target_b64")
# One C call and positional arguments: `Entry.from_stat` runs once per planned file.
_stat_values: Callable[[os.stat_result], tuple[int, int, int, int, int, int, int, int, int, int]]
_stat_values = operator.attrgetter(*(f"st_{name}" for name in STAT_FIELDS))


class ManifestError(ValueError):
    """A manifest line is malformed or names a path that is not safely inside the root."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise ManifestError(f"bad base64: {exc}") from None


def display(path: bytes) -> str:
    """A readable form of a byte path for people (never for finding the file)."""
    return path.decode("utf-8", "backslashreplace")


def check_rel_path(path: bytes) -> tuple[bytes, ...]:
    """Split a relative path into components, refusing anything that could leave the root."""
    parts = tuple(path.split(b"/"))
    if not path or b"\0" in path or b"" in parts or b"." in parts or b".." in parts:
        raise ManifestError(f"unsafe path {display(path)!r}")
    return parts


def new_run_id(now_ns: int | None = None) -> str:
    t = time.gmtime((now_ns if now_ns is not None else time.time_ns()) // 1_000_000_000)
    return time.strftime("%Y%m%dT%H%M%SZ", t) + "-" + secrets.token_hex(3)


def archive_key(prefix: str, user: str, run_id: str, path: bytes) -> str:
    """An S3 key for `path` that is reversible, printable ASCII, and at most 1,024 bytes.

    Bytes outside ``[A-Za-z0-9_.~/-]`` are percent-encoded; a path too long for a key is named
    by its SHA-256 under ``_long/`` instead (the manifest keeps the path either way).
    """
    if any(c in prefix for c in "\t\n\r"):
        raise ValueError("the archive prefix may not contain tabs or line breaks")
    base = f"{prefix}{directory_name(user)}/{run_id}/"
    key = base + "f/" + quote_from_bytes(path, safe="/")
    if len(key.encode()) <= MAX_KEY_BYTES:
        return key
    return base + "_long/" + hashlib.sha256(path).hexdigest()


@dataclass(frozen=True, slots=True)
class Header:
    run_id: str
    user: str
    area: str
    root: bytes
    root_dev: int
    root_ino: int
    root_uid: int
    reason: str
    created_ns: int
    # The executor refuses to act before this time (the notice lead time).
    not_before_ns: int = 0
    bucket: str | None = None
    storage_class: str | None = None
    version: int = MANIFEST_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "header",
            "version": self.version,
            "run_id": self.run_id,
            "user": self.user,
            "area": self.area,
            "root_b64": b64(self.root),
            "root": display(self.root),
            "root_dev": self.root_dev,
            "root_ino": self.root_ino,
            "root_uid": self.root_uid,
            "reason": self.reason,
            "created_ns": self.created_ns,
            "not_before_ns": self.not_before_ns,
            "bucket": self.bucket,
            "storage_class": self.storage_class,
            "columns": list(COLUMNS),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Header:
        if d.get("kind") != "header" or d.get("version") != MANIFEST_VERSION:
            raise ManifestError(f"not a version {MANIFEST_VERSION} manifest header")
        if d["reason"] not in REASONS:
            raise ManifestError(f"unknown reason {d['reason']!r}")
        return cls(
            run_id=str(d["run_id"]),
            user=str(d["user"]),
            area=str(d["area"]),
            root=unb64(d["root_b64"]),
            root_dev=int(d["root_dev"]),
            root_ino=int(d["root_ino"]),
            root_uid=int(d["root_uid"]),
            reason=str(d["reason"]),
            created_ns=int(d["created_ns"]),
            not_before_ns=int(d["not_before_ns"]),
            bucket=d.get("bucket"),
            storage_class=d.get("storage_class"),
        )


@dataclass(slots=True)
class Entry:
    seq: int
    path: bytes
    kind: str  # file | symlink | dir
    action: str
    size: int
    atime_ns: int
    mtime_ns: int
    ctime_ns: int
    dev: int
    ino: int
    mode: int
    uid: int
    gid: int
    nlink: int
    archive_key: str | None = None
    link_target: bytes | None = None
    parts: tuple[bytes, ...] = field(default=(), compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "kind": "entry",
            "seq": self.seq,
            "path_b64": b64(self.path),
            "display": display(self.path),
            "type": self.kind,
            "action": self.action,
            **{name: getattr(self, name) for name in STAT_FIELDS},
        }
        if self.archive_key is not None:
            d["archive_key"] = self.archive_key
        if self.link_target is not None:
            d["link_target_b64"] = b64(self.link_target)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Entry:
        if d.get("kind") != "entry":
            raise ManifestError("not a manifest entry")
        path = unb64(d["path_b64"])
        parts = check_rel_path(path)
        action = d["action"]
        if action not in ACTIONS:
            raise ManifestError(f"unknown action {action!r}")
        target = d.get("link_target_b64")
        return cls(
            seq=int(d["seq"]),
            path=path,
            kind=str(d["type"]),
            action=action,
            **{name: int(d[name]) for name in STAT_FIELDS},
            archive_key=d.get("archive_key"),
            link_target=unb64(target) if target is not None else None,
            parts=parts,
        )

    def to_line(self) -> str:
        return (
            "\t".join(
                (
                    str(self.seq),
                    self.kind,
                    self.action,
                    str(self.size),
                    str(self.atime_ns),
                    str(self.mtime_ns),
                    str(self.ctime_ns),
                    str(self.dev),
                    str(self.ino),
                    str(self.mode),
                    str(self.uid),
                    str(self.gid),
                    str(self.nlink),
                    b64(self.path),
                    self.archive_key if self.archive_key is not None else "-",
                    b64(self.link_target) if self.link_target is not None else "-",
                )
            )
            + "\n"
        )

    @classmethod
    def from_line(cls, line: str) -> Entry:
        f = line.rstrip("\n").split("\t")
        if len(f) != len(COLUMNS):
            raise ManifestError(f"expected {len(COLUMNS)} columns, found {len(f)}")
        kind, action = f[1], f[2]
        if kind not in KINDS:
            raise ManifestError(f"unknown type {kind!r}")
        if action not in ACTIONS:
            raise ManifestError(f"unknown action {action!r}")
        path = unb64(f[13])
        return cls(
            int(f[0]),
            path,
            kind,
            action,
            int(f[3]),
            int(f[4]),
            int(f[5]),
            int(f[6]),
            int(f[7]),
            int(f[8]),
            int(f[9]),
            int(f[10]),
            int(f[11]),
            int(f[12]),
            f[14] if f[14] != "-" else None,
            unb64(f[15]) if f[15] != "-" else None,
            check_rel_path(path),
        )

    @classmethod
    def from_stat(
        cls,
        seq: int,
        path: bytes,
        kind: str,
        action: str,
        st: os.stat_result,
        archive_key: str | None = None,
        link_target: bytes | None = None,
    ) -> Entry:
        return cls(
            seq,
            path,
            kind,
            action,
            *_stat_values(st),
            archive_key,
            link_target,
            check_rel_path(path),
        )

    def with_seq(self, seq: int) -> Entry:
        return replace(self, seq=seq)


def _dump(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=True) + "\n"


class ManifestWriter:
    """Write a manifest atomically: to ``NAME.tmp``, fsync, then rename over ``NAME``."""

    def __init__(self, path: Path, header: Header) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] = self.tmp.open("w", encoding="ascii")
        # The file's digest as written, for its database row (nobody can change it between
        # writing and hashing).
        self._sha = hashlib.sha256()
        self._write(_dump(header.to_json()))
        self.header = header
        self.count = 0
        self.bytes = 0

    def _write(self, text: str) -> None:
        self._sha.update(text.encode("ascii"))
        self._fh.write(text)

    @property
    def digest(self) -> str:
        """SHA-256 (hex) of everything written so far: after `close()`, of the whole file."""
        return self._sha.hexdigest()

    def add(self, entry: Entry) -> None:
        self._write(entry.to_line())
        self.count += 1
        if entry.kind == "file":
            self.bytes += entry.size

    def close(self) -> Path:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        os.replace(self.tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return self.path

    def abort(self) -> None:
        self._fh.close()
        self.tmp.unlink(missing_ok=True)


def write_manifest(path: Path, header: Header, entries: Iterable[Entry]) -> Path:
    w = ManifestWriter(path, header)
    try:
        for e in entries:
            w.add(e)
    except BaseException:
        w.abort()
        raise
    return w.close()


def file_digest(path: Path) -> str:
    """SHA-256 (hex) of the whole manifest file, as `ManifestWriter.digest` computes it."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def copy_hashed(src: Path, dest: Path) -> str:
    """Copy `src` to a new private file `dest` and return the SHA-256 of exactly what was
    copied: checks then read `dest`, which nobody else can change in between."""
    sha = hashlib.sha256()
    # A manifest is a regular file the plan renamed into place: never a symlink to follow,
    # nor a FIFO to wait on.
    fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ManifestError(f"{src} is not a regular file")
        out = os.open(
            dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
    except BaseException:
        os.close(fd)
        raise
    try:
        with os.fdopen(fd, "rb") as fh:
            while chunk := fh.read(1 << 20):
                sha.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(out, view) :]
    finally:
        os.close(out)
    return sha.hexdigest()


def read_header(path: Path) -> Header:
    with path.open(encoding="ascii") as fh:
        first = fh.readline()
    try:
        return Header.from_json(json.loads(first))
    except (ValueError, KeyError, TypeError) as exc:
        raise ManifestError(f"{path}: bad header: {exc}") from None


def read_entries(path: Path) -> Iterator[Entry]:
    with path.open(encoding="ascii") as fh:
        fh.readline()
        for lineno, line in enumerate(fh, start=2):
            try:
                yield Entry.from_line(line)
            except (ValueError, KeyError, TypeError) as exc:
                raise ManifestError(f"{path}:{lineno}: {exc}") from None
