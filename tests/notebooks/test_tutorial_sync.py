"""notebooks/tutorial_sync.py against local bare git repositories (offline)."""

from __future__ import annotations

import importlib
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SYNC = REPO_ROOT / "notebooks" / "tutorial_sync.py"
GIT_ID = ["-c", "user.name=tests", "-c", "user.email=tests@example.org"]


class Origin:
    """A work tree whose commits are pushed to a bare repository, the sync's source."""

    def __init__(self, root: Path) -> None:
        self.work = root / "work"
        self.bare = root / "origin.git"
        subprocess.run(["git", "init", "-q", "-b", "main", str(self.work)], check=True)
        subprocess.run(["git", "init", "-q", "--bare", str(self.bare)], check=True)

    def git(self, *args: str, stdin: str | None = None) -> str:
        return subprocess.run(
            ["git", *GIT_ID, "-C", str(self.work), *args],
            input=stdin, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip

    def commit(self, files: dict[str, str], links: dict[str, str] | None = None) -> str:
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        for name, target in (links or {}).items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.symlink_to(target)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "tutorials")
        self.git("push", "-q", str(self.bare), "HEAD:refs/heads/main")
        return self.git("rev-parse", "HEAD")


def write_config(path: Path, *sources: dict[str, str]) -> Path:
    path.write_text(json.dumps({"sources": list(sources)}))
    return path


def run_sync(config: Path, dest: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SYNC), "--config", str(config), "--dest", str(dest)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    return Origin(tmp_path)


def source(origin: Origin, **over: str) -> dict[str, str]:
    return {"name": "nexus", "repo": str(origin.bare), "ref": "main", "path": "notebooks", **over}


def test_sync_publishes_a_read_only_tree(origin: Origin, tmp_path: Path) -> None:
    commit = origin.commit(
        {"notebooks/a.ipynb": "v1", "notebooks/sub/b.ipynb": "b", "README.md": "not exported"}
    )
    dest = tmp_path / "tutorials"
    result = run_sync(write_config(tmp_path / "c.json", source(origin)), dest)
    assert result.returncode == 0, result.stderr
    assert commit in result.stdout
    tree = dest / "nexus"
    assert tree.is_symlink() and not os.readlink(tree).startswith("/")
    assert (tree / "a.ipynb").read_text() == "v1"
    assert (tree / "sub" / "b.ipynb").read_text() == "b"
    assert not (tree / "README.md").exists()  # only the configured path
    real = Path(os.path.realpath(tree))
    for path in [real, *real.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode == (0o555 if path.is_dir() else 0o444), (path, oct(mode))


def test_new_commit_is_swapped_in_atomically(origin: Origin, tmp_path: Path) -> None:
    """A reader looping over the published file during re-syncs only ever sees whole versions."""
    versions = [f"version {i} " * 20_000 for i in range(4)]
    origin.commit(
        {"notebooks/a.ipynb": versions[0], **{f"notebooks/f{i}": "x" for i in range(200)}}
    )
    config = write_config(tmp_path / "c.json", source(origin))
    dest = tmp_path / "tutorials"
    assert run_sync(config, dest).returncode == 0
    first = os.readlink(dest / "nexus")

    seen: list[str] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            try:
                seen.append((dest / "nexus" / "a.ipynb").read_text())
            except OSError as exc:
                errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for text in versions[1:]:
            origin.commit({"notebooks/a.ipynb": text})
            result = run_sync(config, dest)
            assert result.returncode == 0, result.stderr
    finally:
        done.set()
        thread.join()
    assert not errors
    assert seen and set(seen) <= set(versions)
    assert (dest / "nexus" / "a.ipynb").read_text() == versions[-1]
    assert os.readlink(dest / "nexus") != first
    # The previous tree stays until the next sync, older ones are gone.
    assert len(list((dest / ".trees").iterdir())) == 2
    assert run_sync(config, dest).returncode == 0  # already current
    assert len(list((dest / ".trees").iterdir())) == 1


def test_malicious_symlinks_are_contained(origin: Origin, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    origin.commit(
        {"notebooks/a.ipynb": "a", "notebooks/sub/c.txt": "c"},
        links={
            "notebooks/etc": "/etc",  # absolute
            "notebooks/up": "../../../outside",  # leaves the tree
            "notebooks/readme": "../README.md",  # leaves the exported path
            "notebooks/x": ".",
            # Lexically inside, but resolving x/x/x first climbs above the tree.
            "notebooks/d": "x/x/x",
            "notebooks/e": "d/x/x/../../..",
            "notebooks/ok": "a.ipynb",  # stays inside: kept
            "notebooks/via": "sub/c.txt",  # through 'sub', which becomes a link below
        },
    )
    # Then a commit that turns a folder into a link to outside: nothing is written through it.
    origin.git("rm", "-q", "-r", "notebooks/sub")
    origin.commit({}, links={"notebooks/sub": str(outside)})
    dest = tmp_path / "tutorials"
    result = run_sync(write_config(tmp_path / "c.json", source(origin)), dest)
    assert result.returncode == 0, result.stderr
    tree = Path(os.path.realpath(dest / "nexus"))
    assert sorted(p.name for p in tree.iterdir()) == ["a.ipynb", "ok", "x"]
    assert (tree / "ok").read_text() == "a"
    for name in ["etc", "up", "readme", "d", "e", "sub", "via"]:
        assert f"skipped symlink '{name}'" in result.stdout
    assert list(outside.iterdir()) == []
    for path in tree.rglob("*"):
        assert Path(os.path.realpath(path)).is_relative_to(tree), path


def test_crafted_tree_entries_never_leave_the_destination(origin: Origin, tmp_path: Path) -> None:
    """A tree object naming '..' (git's own commands never make one) is refused on fetch."""
    origin.commit({"notebooks/a.ipynb": "a"})
    blob = origin.git("hash-object", "-w", "--stdin", stdin="escaped")
    inner = origin.git("mktree", stdin=f"100644 blob {blob}\t..\n")
    sub = origin.git("mktree", stdin=f"040000 tree {inner}\tnotebooks\n")
    commit = origin.git("commit-tree", sub, "-m", "crafted")
    origin.git("push", "-q", str(origin.bare), f"{commit}:refs/heads/crafted")
    dest = tmp_path / "deep" / "tutorials"
    result = run_sync(write_config(tmp_path / "c.json", source(origin, ref="crafted")), dest)
    assert result.returncode != 0
    assert "crafted" in result.stderr
    assert not list((tmp_path / "deep").rglob("..*")) and not (dest / "nexus").exists()
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["tutorials"]


@pytest.mark.parametrize(
    ("over", "code", "message"),
    [
        ({"ref": "no-such-branch"}, 4, "is not a branch or tag of"),
        ({"ref": "0" * 40}, 4, "cannot fetch"),
        ({"path": "missing"}, 5, "is not a folder of"),
        ({"repo": "/nonexistent/repo.git"}, 3, "cannot reach /nonexistent/repo.git"),
        ({"ref": "../main"}, 2, "is not a branch, tag or full commit id"),
        ({"ref": "--upload-pack=x"}, 2, "is not a branch, tag or full commit id"),
        ({"repo": "ext::sh -c touch% /tmp/pwned"}, 2, "use an https:// URL"),
        ({"path": "../.."}, 2, "not a relative path"),
        ({"name": "a/b"}, 2, "must match"),
        ({"colour": "red"}, 2, "unknown keys ['colour']"),
    ],
)
def test_bad_configuration_exits_with_its_code_and_message(
    origin: Origin, tmp_path: Path, over: dict[str, str], code: int, message: str
) -> None:
    origin.commit({"notebooks/a.ipynb": "a"})
    dest = tmp_path / "tutorials"
    good = source(origin, name="good")
    result = run_sync(write_config(tmp_path / "c.json", good, source(origin, **over)), dest)
    assert result.returncode == code, result.stdout + result.stderr
    assert message in result.stderr
    if code != 2:  # a bad source does not stop the good one
        assert (dest / "good" / "a.ipynb").read_text() == "a"


def test_a_failing_source_keeps_its_last_tree(origin: Origin, tmp_path: Path) -> None:
    origin.commit({"notebooks/a.ipynb": "a"})
    dest = tmp_path / "tutorials"
    assert run_sync(write_config(tmp_path / "c.json", source(origin)), dest).returncode == 0
    broken = write_config(tmp_path / "c.json", source(origin, ref="gone"))
    assert run_sync(broken, dest).returncode == 4
    assert (dest / "nexus" / "a.ipynb").read_text() == "a"
    # A source removed from the configuration is unpublished.
    other = write_config(tmp_path / "c.json", source(origin, name="other"))
    assert run_sync(other, dest).returncode == 0
    assert not (dest / "nexus").exists() and (dest / "other" / "a.ipynb").is_file()
    assert len(list((dest / ".trees").iterdir())) == 1


def test_unsafe_entry_paths_are_skipped_even_past_fsck(origin: Origin, tmp_path: Path) -> None:
    """write_tree's own check, for entries git's fsck would already refuse."""
    sys.path.insert(0, str(SYNC.parent))
    try:
        sync = importlib.import_module("tutorial_sync")
    finally:
        sys.path.remove(str(SYNC.parent))
    origin.commit({"notebooks/a.ipynb": "a"})
    oid = origin.git("hash-object", "-w", "--stdin", stdin="payload")
    entries = [
        sync.Entry("100644", oid, path)
        for path in ["../escape", "sub/../../escape", "/abs", "sub/.GIT/config", "ok/file"]
    ]
    root = tmp_path / "deep" / "tree"
    root.mkdir(parents=True)
    warnings: list[str] = []
    written = sync.write_tree(origin.work / ".git", entries, root, warnings)
    assert written == 1 and (root / "ok" / "file").read_text() == "payload"
    assert len(warnings) == 4 and all("unsafe path" in w for w in warnings)
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["tree"]
    assert not (tmp_path / "escape").exists()
