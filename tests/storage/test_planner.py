"""The planner: pure decisions from tier policy, and manifests built from real trees."""

from __future__ import annotations

import base64
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quota_service.filesystem.manifest import (
    HOME_ALLOCATION_ENDED,
    HOME_INACTIVE,
    OVER_QUOTA_LRU,
    SCRATCH_RETENTION,
    Entry,
    ManifestError,
    archive_key,
    check_rel_path,
    read_entries,
    read_header,
)
from quota_service.filesystem.planner import Decision, UserFacts, decide
from quota_service.filesystem.scanner import HOME
from quota_service.policy import GIB, load_policy

from .plans import home_decision, plan, scratch_decision
from .trees import DAY_NS, layout, put

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
POLICY = load_policy()


def reasons(facts: UserFacts) -> list[str]:
    decisions, _ = decide(facts, POLICY.tier(facts.tier), NOW)
    return [d.reason for d in decisions]


def test_scratch_is_always_planned_with_the_tier_retention() -> None:
    for tier, days in (("entry", 14), ("research", 30), ("consortium", 60)):
        decisions, _ = decide(UserFacts("u", tier, last_login=NOW), POLICY.tier(tier), NOW)
        assert [(d.reason, d.retention_days) for d in decisions] == [(SCRATCH_RETENTION, days)]


def test_inactive_home_after_the_tier_period() -> None:
    assert HOME_INACTIVE in reasons(UserFacts("u", "entry", last_login=NOW - timedelta(days=180)))
    assert HOME_INACTIVE not in reasons(
        UserFacts("u", "entry", last_login=NOW - timedelta(days=179))
    )
    # Never logged in: the account's creation counts as the last sighting.
    assert HOME_INACTIVE in reasons(UserFacts("u", "research", created=NOW - timedelta(days=400)))
    # Already archived: nothing more to do with the home.
    assert reasons(
        UserFacts("u", "entry", last_login=NOW - timedelta(days=999), home_archived=True)
    ) == [SCRATCH_RETENTION]


def test_consortium_home_archived_after_allocation_end_plus_grace() -> None:
    ended = NOW - timedelta(days=90)
    assert HOME_ALLOCATION_ENDED in reasons(
        UserFacts("u", "consortium", last_login=NOW, allocation_end=ended)
    )
    assert HOME_ALLOCATION_ENDED not in reasons(
        UserFacts("u", "consortium", last_login=NOW, allocation_end=ended + timedelta(days=1))
    )


def test_over_quota_past_grace_takes_the_tier_action() -> None:
    over = UserFacts(
        "u",
        "research",
        last_login=NOW,
        home_bytes=300 * GIB,
        soft_bytes=200 * GIB,
        hard_bytes=250 * GIB,
    )
    late = replace(over, over_soft_since=NOW - timedelta(days=14))
    decisions, flags = decide(late, POLICY.tier("research"), NOW)
    lru = [d for d in decisions if d.reason == OVER_QUOTA_LRU]
    assert lru and lru[0].excess_bytes == 100 * GIB and not flags
    early = replace(over, over_soft_since=NOW - timedelta(days=13))
    assert OVER_QUOTA_LRU not in reasons(early)
    # Entry's action is clean-up mode: a flag, no file action.
    entry = UserFacts(
        "u",
        "entry",
        last_login=NOW,
        home_bytes=12 * GIB,
        soft_bytes=10 * GIB,
        over_soft_since=NOW - timedelta(days=30),
    )
    decisions, flags = decide(entry, POLICY.tier("entry"), NOW)
    assert [d.reason for d in decisions] == [SCRATCH_RETENTION]
    assert [f.kind for f in flags] == ["cleanup_mode"]


@given(st.binary(min_size=1, max_size=300))
def test_check_rel_path_accepts_only_paths_inside(path: bytes) -> None:
    try:
        parts = check_rel_path(path)
    except ManifestError:
        return
    assert not path.startswith(b"/") and b"\0" not in path
    assert all(p not in (b"", b".", b"..") for p in parts)
    assert b"/".join(parts) == path


@given(st.binary(min_size=1, max_size=2000))
def test_archive_keys_are_ascii_bounded_and_distinct(path: bytes) -> None:
    key = archive_key("archive/", "alice", "run1", path)
    assert key.isascii() and len(key) <= 1024 and key.startswith("archive/alice/run1/")
    assert "\n" not in key
    other = archive_key("archive/", "alice", "run1", path + b"x")
    assert other != key


def test_scratch_plan_takes_only_old_regular_files(tmp_path: Path) -> None:
    lay = layout(tmp_path, ["alice"])
    now = 1_800_000_000 * 10**9
    root = lay.scr("alice")
    put(root / "old.dat", b"o" * 10)
    put(root / "d" / "-old dash", b"o")
    put(root / "fresh.dat", b"f")
    os.symlink("/etc/passwd", root / "old-link")
    # Ages are relative to the injected clock; ctime (now, for real) is far older than it.
    old = now - 20 * DAY_NS
    for p in (root / "old.dat", root / "d" / "-old dash"):
        os.utime(p, ns=(old, old))
    recent = now - 3 * DAY_NS
    os.utime(root / "fresh.dat", ns=(recent, recent))
    manifest, stats = plan(root, scratch_decision("alice", 14), tmp_path / "m", now_ns=now)
    got = {e.path: e for e in read_entries(manifest)}
    assert set(got) == {b"old.dat", b"d/-old dash"}
    assert all(e.action == "delete" and e.kind == "file" for e in got.values())
    assert stats.files == 2 and stats.bytes == 11
    header = read_header(manifest)
    assert header.user == "alice" and header.reason == SCRATCH_RETENTION
    assert header.root == os.fsencode(root)


def test_manifest_round_trips_odd_names_and_is_ascii(tmp_path: Path) -> None:
    lay = layout(tmp_path, ["bob"])
    names = [b"line\nbreak", b"\xff\xfeinvalid", b"-rf", b"sub/\xc3(x"]
    for n in names:
        put(os.path.join(os.fsencode(lay.home("bob")), n), b"z")
    manifest, _ = plan(lay.home("bob"), home_decision("bob"), tmp_path / "m")
    raw = manifest.read_bytes()
    assert raw.isascii()
    got = {e.path for e in read_entries(manifest) if e.kind == "file"}
    assert got == set(names)
    shown = {e.to_json()["display"] for e in read_entries(manifest)}
    assert "\\xff\\xfeinvalid" in shown and "line\nbreak" in shown


def test_home_plan_archives_files_and_links_then_removes_dirs_deepest_first(
    tmp_path: Path,
) -> None:
    lay = layout(tmp_path, ["carol"])
    home = lay.home("carol")
    put(home / "a" / "b" / "c" / "f1")
    put(home / "a" / "f2")
    os.symlink("../outside/target", home / "a" / "ln")
    os.mkfifo(home / "pipe")
    manifest, _ = plan(home, home_decision("carol"), tmp_path / "m", prefix="arc/")
    es = list(read_entries(manifest))
    files = [e for e in es if e.kind == "file"]
    assert all(e.action == "archive" and e.archive_key for e in files)
    assert all(e.archive_key.startswith("arc/carol/") for e in files if e.archive_key)
    links = [e for e in es if e.kind == "symlink"]
    assert links[0].link_target == b"../outside/target"
    dirs = [e.path for e in es if e.kind == "dir"]
    assert dirs == [b"a/b/c", b"a/b", b"a"]
    assert b"pipe" not in {e.path for e in es}
    # Directories come after everything else.
    assert [e.kind for e in es][-3:] == ["dir", "dir", "dir"]


def test_lru_plan_archives_oldest_until_under_soft_quota(tmp_path: Path) -> None:
    lay = layout(tmp_path, ["dave"])
    home = lay.home("dave")
    now = 1_800_000_000 * 10**9
    for i in range(10):
        p = put(home / f"f{i}", b"x" * 40_960)
        t = now - (100 - i) * DAY_NS  # f0 oldest
        os.utime(p, ns=(t, t))
    block = os.stat(home / "f0").st_blocks * 512
    decision = Decision("dave", HOME, OVER_QUOTA_LRU, excess_bytes=3 * block - 1)
    manifest, _ = plan(home, decision, tmp_path / "m", now_ns=now)
    assert {e.path for e in read_entries(manifest)} == {b"f0", b"f1", b"f2"}


def test_reading_a_tampered_manifest_refuses_escaping_paths(tmp_path: Path) -> None:
    lay = layout(tmp_path, ["erin"])
    put(lay.scr("erin") / "x", age_days=100)
    manifest, _ = plan(lay.scr("erin"), scratch_decision("erin"), tmp_path / "m")
    line = manifest.read_text().splitlines()[1]
    as_json = Entry.from_line(line).to_json()
    for bad in (b"../outside/x", b"/etc/passwd", b"a/../../x", b"a//b", b"./x", b"a/\0b", b""):
        fields = line.split("\t")
        fields[13] = base64.b64encode(bad).decode()
        with pytest.raises(ManifestError):
            Entry.from_line("\t".join(fields))
        with pytest.raises(ManifestError):
            Entry.from_json({**as_json, "path_b64": fields[13]})
    for garbage in ("", "1\tfile", line.replace("\tdelete\t", "\trm -rf\t")):
        with pytest.raises(ManifestError):
            Entry.from_line(garbage)
