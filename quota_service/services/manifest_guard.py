"""A purge manifest is used only as its database row planned it (issue 15 item 8).

The purge state directory is shared by the plan and notify jobs, the quota service and the
root executor. A file there that the executor trusted could aim it at anyone's files. So the
plan stores the SHA-256 of each manifest file in its row (``PurgeManifest.digest``), and every
reader (execute, restore, notify's sample, the owner's file list) works on a private copy:

- ``private_copy`` copies the file into a directory of this process, hashing exactly the bytes
  it copies; later reads of the copy cannot see a file swapped or edited in the meantime;
- ``check_planned`` holds the copy to its row: the header's user, area and run; the root, from
  the row's username by the one directory rule (never from the file); the digest; and every
  archive key exactly the key the plan derives for that path under the person's prefix.

Rows planned before the digest (``digest`` NULL, docs/security-purge.md): never-executed ones
are cancelled and planned again (``retire_unbound``); ones an older executor already acted on
are bound once, to the file as found, so they can still be finished and restored.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ..filesystem import manifest as mf
from ..schema import User
from ..schema.purge_manifest import ManifestStatus, PurgeManifest
from ..schema.purge_run import PurgeRun
from ..store.manifests import is_pending

UNBOUND = (
    "planned before manifest digests (20261123_01): cancelled unacted; its area is planned "
    "again with a digest and new notices"
)


class ManifestRefused(Exception):
    """This manifest file is not the one its row planned: nothing is done with it."""


@dataclass(frozen=True, slots=True)
class Planned:
    """What the database says about one manifest: the only source of who, where and which."""

    id: int
    user: str
    area: str
    path: Path
    digest: str | None
    run_id: str
    archive_bucket: str | None
    archive_prefix: str | None

    @property
    def journal(self) -> Path:
        return self.path.with_suffix(".journal")


def planned_rows() -> Select[tuple[PurgeManifest, str, str]]:
    return (
        select(PurgeManifest, User.username, PurgeRun.run_id)
        .join(User, User.id == PurgeManifest.user_id)
        .join(PurgeRun, PurgeRun.id == PurgeManifest.run_id)
    )


def planned(m: PurgeManifest, username: str, run_id: str) -> Planned:
    return Planned(
        id=m.id,
        user=username,
        area=m.area,
        path=Path(m.path),
        digest=m.digest,
        run_id=run_id,
        archive_bucket=m.archive_bucket,
        archive_prefix=m.archive_prefix,
    )


def private_copy(manifest_id: int, path: Path, workdir: Path) -> tuple[Path, str]:
    """The manifest copied into `workdir` (this process's own), and the digest of the copy."""
    copy = workdir / f"m{manifest_id}.manifest.jsonl"
    copy.unlink(missing_ok=True)
    return copy, mf.copy_hashed(path, copy)


def check_digest(planned: str | None, digest: str) -> None:
    """`planned` None: a row from before digests, taken as found (see the module's doc)."""
    if planned is not None and not hmac.compare_digest(digest, planned):
        # The digest found is not shown: the path may name any file this process can read.
        raise ManifestRefused("the file is not the one planned (its SHA-256 differs)")


def check_planned(p: Planned, copy: Path, digest: str, root: Path | None) -> None:
    """Raise ManifestRefused (or ManifestError for a malformed file) unless `copy` is the
    manifest `p` planned, for `root`: the person's directory in that area."""
    header = mf.read_header(copy)
    if root is None or header.root != os.fsencode(root):
        raise ManifestRefused(f"its root is not {p.user}'s {p.area} directory")
    if (header.user, header.area, header.run_id) != (p.user, p.area, p.run_id):
        raise ManifestRefused(
            f"its header names {header.user!r} {header.area} in run {header.run_id}, "
            f"not {p.user!r} {p.area} in run {p.run_id}"
        )
    check_digest(p.digest, digest)
    _check_keys(p, copy)


def _check_keys(p: Planned, copy: Path) -> None:
    """Archive keys come from the file: each must be the plan's key for its path, under the
    person's prefix, so no entry reads or writes another person's archive. Files of an
    archive manifest are all archived first; a deletion manifest archives nothing."""
    archive = p.archive_bucket is not None and p.archive_prefix is not None
    for e in mf.read_entries(copy):
        expected = None
        if archive and e.kind == "file":
            assert p.archive_prefix is not None
            expected = mf.archive_key(p.archive_prefix, p.user, p.run_id, e.path)
            if e.action != mf.ARCHIVE:
                raise ManifestRefused(f"entry {e.seq} deletes a file an archive must keep")
        if e.archive_key != expected:
            raise ManifestRefused(
                f"entry {e.seq}'s archive key {e.archive_key!r} is not the planned key "
                f"{expected!r} for {p.user}"
            )


def journal_beside(p: Planned, copy: Path) -> None:
    """The executor keeps its journal beside the manifest it reads (``NAME.journal``): point
    that name at the real journal, so resuming and restore see every step."""
    link = copy.with_suffix(".journal")
    link.unlink(missing_ok=True)
    os.symlink(p.journal.absolute(), link)


def retire_unbound(session: Session, now: datetime) -> list[int]:
    """Cancel rows without a digest that nothing has acted on yet; `plan` makes new ones."""
    rows = session.scalars(
        select(PurgeManifest).where(PurgeManifest.digest.is_(None), is_pending())
    ).all()
    for m in rows:
        m.status = ManifestStatus.cancelled
        m.result = {**(m.result or {}), "cancelled": UNBOUND, "cancelled_at": now.isoformat()}
    return [m.id for m in rows]


def refusal(m: PurgeManifest, reason: str, now: datetime) -> dict[str, Any]:
    """The row's result with this refusal noted; its status stays as it was."""
    return {**(m.result or {}), "refused": reason, "refused_at": now.isoformat()}
