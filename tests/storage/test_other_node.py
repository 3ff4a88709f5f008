"""A manifest planned on another node: EFS's device number differs, the inodes do not.

Each node's kernel numbers an NFS mount when it makes it, so the plan job, the execute job and
the quota pod that restores see one directory under different ``st_dev``. The manifest below is
a real plan with every device number rewritten as another node would have recorded it.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from quota_service.filesystem.executor import ExecutorError
from quota_service.filesystem.manifest import read_entries, read_header, write_manifest

from .plans import plan, run, scratch_decision
from .trees import layout, put, snapshot


def as_planned_elsewhere(manifest: Path, out: Path, shift: int = 1000) -> Path:
    header = read_header(manifest)
    entries = [replace(e, dev=e.dev + shift) for e in read_entries(manifest)]
    return write_manifest(out, replace(header, root_dev=header.root_dev + shift), entries)


def test_a_manifest_from_another_node_executes_where_it_was_planned(tmp_path: Path) -> None:
    lay = layout(tmp_path / "efs", ["alice", "bob"])
    put(lay.scr("alice") / "old.dat", b"a" * 100, age_days=100)
    put(lay.scr("alice") / "sub" / "older.dat", b"a" * 100, age_days=100)
    put(lay.scr("bob") / "old.dat", b"b" * 100, age_days=100)
    bob = snapshot(lay.scr("bob"))
    manifest, _ = plan(lay.scr("alice"), scratch_decision("alice"), tmp_path)
    elsewhere = as_planned_elsewhere(manifest, tmp_path / "elsewhere.manifest.jsonl")
    result = run(elsewhere)
    assert (result.done, result.kept, result.errors) == (2, 0, 0), result
    assert not (lay.scr("alice") / "old.dat").exists()
    assert not (lay.scr("alice") / "sub" / "older.dat").exists()
    assert snapshot(lay.scr("bob")) == bob


def test_another_directory_at_the_root_path_is_still_refused(tmp_path: Path) -> None:
    lay = layout(tmp_path / "efs", ["alice"])
    put(lay.scr("alice") / "old.dat", b"a", age_days=100)
    manifest, _ = plan(lay.scr("alice"), scratch_decision("alice"), tmp_path)
    elsewhere = as_planned_elsewhere(manifest, tmp_path / "elsewhere.manifest.jsonl")
    os.rename(lay.scr("alice"), tmp_path / "moved")
    os.mkdir(lay.scr("alice"))
    put(lay.scr("alice") / "old.dat", b"a", age_days=100)
    with pytest.raises(ExecutorError, match="not the directory that was planned"):
        run(elsewhere)
    assert (lay.scr("alice") / "old.dat").exists()
