"""Typed rows of the purge steps' reports (`StepReport.manifests`), one class per step.

Each row turns into the same JSON object the reports always printed (`as_dict`, field order
kept), and can still be read by field name (`row["files"]`), as the dict rows were.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Generic, TypeVar


class _Row:
    def __getitem__(self, key: str) -> Any:
        if key not in getattr(self, "__dataclass_fields__", {}):
            raise KeyError(key)
        return getattr(self, key)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = asdict(self)  # type: ignore[call-overload]
        return data

    @property
    def failed(self) -> bool:
        """Whether this manifest's step left errors (the report is then partial)."""
        return False

    @property
    def counted_files(self) -> int:
        """The files this row counts in the step's audit record."""
        return 0


@dataclass
class PlanRow(_Row):
    """One manifest the plan wrote (or, in a dry run, would write)."""

    user: str
    area: str
    reason: str
    why: str
    entries: int
    files: int
    bytes: int
    path: str
    action_at: str
    excluded_foreign_links: int
    walk_issues: int

    @property
    def counted_files(self) -> int:
        return self.files


@dataclass
class NoticeRow(_Row):
    """One notice that was due."""

    user: str
    manifest: int
    lead_days: int
    action_at: str


@dataclass
class ExecuteRow(_Row):
    """What executing one manifest did (also kept as the manifest row's `result`)."""

    manifest: int
    user: str
    done: int
    kept: int
    absent: int
    errors: int
    uploaded: int
    already_done: int
    bytes_freed: int
    kept_samples: list[tuple[str, str]]
    error_samples: list[tuple[str, str]]

    @property
    def failed(self) -> bool:
        return bool(self.errors)


@dataclass
class RestoreRow(_Row):
    """What restoring one manifest brought back (or why nothing was)."""

    manifest: int
    user: str
    files: int = 0
    symlinks: int = 0
    dirs: int = 0
    already: int = 0
    beside: int = 0
    bytes: int = 0
    errors: int = 0
    error_samples: list[tuple[str, str]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    @property
    def counted_files(self) -> int:
        return self.files


R = TypeVar("R", PlanRow, NoticeRow, ExecuteRow, RestoreRow)


@dataclass
class StepReport(Generic[R]):
    step: str
    dry_run: bool = False
    manifests: list[R] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    run_id: str | None = None
    # Worth saying, not failures (they leave the exit code alone).
    notes: list[str] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        return bool(self.errors) or any(m.failed for m in self.manifests)

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "dry_run": self.dry_run,
            "run_id": self.run_id,
            "manifests": [m.as_dict() for m in self.manifests],
            "errors": self.errors,
            "notes": self.notes,
        }
