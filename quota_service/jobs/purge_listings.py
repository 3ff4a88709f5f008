"""What people see of their purges: their manifests and each one's entries."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from ..errors import Conflict, NotFound, UpstreamUnavailable
from ..filesystem import manifest as mf
from ..filesystem.journal import FileJournal
from ..models.purge import PurgeManifestEntryView, PurgeManifestView
from ..schema.purge_manifest import PurgeManifest
from ..services import manifest_guard as guard
from .purge_common import PurgeJobBase

if TYPE_CHECKING:
    pass


class ListingsStep(PurgeJobBase):
    """What the owner sees: their manifests, and a page of one manifest's entries."""

    def manifests_for(self, username: str) -> list[PurgeManifestView]:
        with self.factory.unit_of_work() as svc:
            user = svc.users.get(username)
            return [
                PurgeManifestView(
                    id=m.id,
                    area=m.area,
                    reason=m.reason,
                    why=m.why,
                    files=m.files,
                    bytes=m.bytes,
                    status=m.status.value,
                    action_at=m.action_at.isoformat(),
                    first_notice_at=m.first_notice_at.isoformat() if m.first_notice_at else None,
                    executed_at=m.executed_at.isoformat() if m.executed_at else None,
                    restored_at=m.restored_at.isoformat() if m.restored_at else None,
                    result=m.result,
                )
                for m in svc.ctx.session.scalars(
                    select(PurgeManifest)
                    .where(PurgeManifest.user_id == user.id)
                    .order_by(PurgeManifest.id.desc())
                )
            ]

    def manifest_entries(
        self, username: str, manifest_id: int, offset: int = 0, limit: int = 500
    ) -> list[PurgeManifestEntryView]:
        """A page of one manifest's entries with each one's state, for the owner to inspect."""
        with self.factory.unit_of_work() as svc:
            user = svc.users.get(username)
            m = svc.ctx.session.get(PurgeManifest, manifest_id)
            if m is None or m.user_id != user.id:
                raise NotFound(f"no purge manifest {manifest_id} for {username}")
            path, planned = Path(m.path), m.digest
        self._readable(manifest_id, path)
        try:
            # Shown from a private copy whose digest is the planned one, never from the file.
            with tempfile.TemporaryDirectory(prefix="nexus-list-") as tmp:
                copy, digest = guard.private_copy(manifest_id, path, Path(tmp))
                guard.check_digest(planned, digest)
                return self._entries(copy, path.with_suffix(".journal"), offset, limit)
        except guard.ManifestRefused as exc:
            raise Conflict(
                f"the file list of purge manifest {manifest_id} is not the one planned, so it "
                f"is not shown and nothing is done with it: {exc}",
                code="purge_manifest_mismatch",
            ) from None
        except (OSError, mf.ManifestError) as exc:
            raise UpstreamUnavailable(
                f"the file list of purge manifest {manifest_id} cannot be read now: {exc}",
                code="purge_state_unavailable",
            ) from None

    def _readable(self, manifest_id: int, path: Path) -> None:
        """Refuse clearly when this process cannot see the jobs' manifest files."""
        if not self.config.state_dir.is_dir():
            raise UpstreamUnavailable(
                f"the file list of purge manifest {manifest_id} is not available: the purge "
                f"state directory {self.config.state_dir} is not mounted in the quota service "
                "(NEXUS_STORAGE_STATE_DIR)",
                code="purge_state_unavailable",
            )
        if not path.is_file():
            raise NotFound(f"the file list of purge manifest {manifest_id} is no longer kept")

    def _entries(
        self, path: Path, journal: Path, offset: int, limit: int
    ) -> list[PurgeManifestEntryView]:
        steps = FileJournal(journal).load() if journal.exists() else {}
        out: list[PurgeManifestEntryView] = []
        for e in mf.read_entries(path):
            if e.seq < offset:
                continue
            if len(out) >= limit:
                break
            step = steps.get(e.seq)
            out.append(
                PurgeManifestEntryView(
                    path=mf.display(e.path),
                    type=e.kind,
                    action=e.action,
                    size=e.size,
                    atime=e.atime_ns // 1_000_000_000,
                    mtime=e.mtime_ns // 1_000_000_000,
                    archive_key=e.archive_key,
                    state=step.state if step else "pending",
                    note=step.reason if step else "",
                )
            )
        return out
