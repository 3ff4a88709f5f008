"""Where the executor records each step, so a rerun after a crash finishes the plan.

``Journal`` is the interface; ``FileJournal`` is an append-only JSON-lines file beside the
manifest, and it is the design the pipeline uses (the database keeps summaries and points at the
files): it needs no database round trip per file, and a journal line is written with the same
``write`` + ``fsync`` discipline whatever database is configured.

Durability rule: a step that must never be redone (an archive upload that was verified) is
fsync'd before the executor goes on to remove the local file. Deletions are written in batches
(every ``batch`` records) and fsync'd at the end or with the next durable record: replaying a
deletion after a crash is harmless, the file is found missing and recorded as ``absent``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

# States of one manifest entry.
UPLOADED = "uploaded"  # the archive copy is verified; the local file may still exist
DONE = "done"  # the action was carried out
ABSENT = "absent"  # the entry was already gone
KEPT = "kept"  # re-checked and found changed (or unsafe): left alone for good
ERROR = "error"  # failed; a rerun tries again
TERMINAL = frozenset({DONE, ABSENT, KEPT})


@dataclass(frozen=True, slots=True)
class Step:
    seq: int
    state: str
    reason: str = ""
    sha256: str | None = None


class Journal(Protocol):
    def load(self) -> dict[int, Step]:
        """The last recorded step of every entry so far."""

    def record(self, step: Step, durable: bool = False) -> None:
        """Append a step; when `durable`, it is on stable storage when this returns."""

    def close(self) -> None:
        """Flush and fsync whatever is pending."""


class FileJournal:
    """An fsync'd append-only JSON-lines journal; a torn last line (a crash) is ignored."""

    def __init__(self, path: Path, batch: int = 2000) -> None:
        self.path = path
        self.batch = batch
        self._pending = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._buf: list[bytes] = []
        self._drop_torn_tail()

    def _drop_torn_tail(self) -> None:
        """Cut a line a crash left half-written, so new records start on a line of their own."""
        size = os.fstat(self._fd).st_size
        if size == 0 or os.pread(self._fd, 1, size - 1) == b"\n":
            return
        keep = size
        while keep > 0:
            start = max(0, keep - 4096)
            block = os.pread(self._fd, keep - start, start)
            nl = block.rfind(b"\n")
            if nl >= 0:
                keep = start + nl + 1
                break
            keep = start
        os.ftruncate(self._fd, keep)
        os.fsync(self._fd)

    def load(self) -> dict[int, Step]:
        steps: dict[int, Step] = {}
        try:
            fh = self.path.open("rb")
        except FileNotFoundError:
            return steps
        with fh:
            for line in fh:
                if not line.endswith(b"\n"):
                    break  # torn write at the crash point
                try:
                    d: dict[str, Any] = json.loads(line)
                    step = Step(
                        int(d["seq"]), str(d["state"]), d.get("reason", ""), d.get("sha256")
                    )
                except (ValueError, KeyError, TypeError):
                    continue
                steps[step.seq] = step
        return steps

    def record(self, step: Step, durable: bool = False) -> None:
        if step.reason or step.sha256:
            d: dict[str, Any] = {"seq": step.seq, "state": step.state, "t": time.time_ns()}
            if step.reason:
                d["reason"] = step.reason
            if step.sha256:
                d["sha256"] = step.sha256
            line = json.dumps(d, separators=(",", ":")).encode() + b"\n"
        else:
            # The common case (a deletion) without json.dumps: states are fixed ASCII words.
            line = b'{"seq":%d,"state":"%s"}\n' % (step.seq, step.state.encode())
        self._buf.append(line)
        self._pending += 1
        if durable:
            self._flush(fsync=True)
        elif self._pending >= self.batch:
            self._flush(fsync=False)

    def _flush(self, fsync: bool) -> None:
        if self._buf:
            data = b"".join(self._buf)
            self._buf.clear()
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
        if fsync:
            os.fsync(self._fd)
        self._pending = 0

    def close(self) -> None:
        if self._fd >= 0:
            self._flush(fsync=True)
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> FileJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
