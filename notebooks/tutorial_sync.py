#!/usr/bin/env python3
"""Publish read-only copies of tutorial repositories into a shared folder (~/tutorials).

    tutorial_sync.py --config sources.json --dest /srv/tutorials

sources.json: {"sources": [{"name": "roman_notebooks", "repo": "https://github.com/...",
"ref": "<branch, tag or full commit>", "path": "notebooks"}]}

For each source the configured ref is fetched (depth 1) into a temporary bare repository and the
commit is checked to be the one the remote names for that ref (or the configured commit). The
files under `path` are written from git's object store (no checkout, so no hooks, filters or
attributes of the repository run) into a new tree `DEST/.trees/<name>.<commit>.<config>.<rand>`,
made read-only (files 0444, folders 0555); then the link `DEST/<name>` is replaced by a link to
it in one rename, so a reader sees either the old tree or the new one. The previous tree is kept
until the next sync (a notebook opened from it keeps working); older ones are removed, and so
are the links and trees of sources no longer configured.

Containment: every path is checked component by component (no '', '.', '..', '.git'); files are
created with O_EXCL|O_NOFOLLOW before any symlink exists; a symlink is kept only when its target
is relative and stays in the tree without passing through another symlink, else skipped.

Standard library and the git command line only (it runs in the user image).
Exit codes: 0 synced (or already current), 1 other failure, 2 bad configuration, 3 repository
unreachable, 4 ref unknown or not what was configured, 5 path not a folder of that commit,
6 destination unusable. With several sources each is tried; the first failure's code is returned.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

# Run as a script (the CronJob, make): its folder is on sys.path.
from tutorial_source import (
    BAD_DEST,
    OK,
    Entry,
    Source,
    SyncError,
    fetch_commit,
    git,
    list_tree,
    load_config,
    read_blobs,
    safe_component,
)

TREES = ".trees"


# --- writing a tree ------------------------------------------------------------------------


def link_allowed(path: str, target: str, links: set[str]) -> bool:
    """A relative target that stays in the tree and passes through no other symlink."""
    if not target or target.startswith("/") or "\0" in target:
        return False
    here = path.split("/")[:-1]
    parts = target.split("/")
    for i, part in enumerate(parts):
        if part in {"", "."}:
            continue
        if part == "..":
            if not here:
                return False
            here.pop()
            continue
        if part.casefold() == ".git":
            return False
        here.append(part)
        if i < len(parts) - 1 and "/".join(here) in links:
            return False
    return True


def write_tree(gitdir: Path, entries: list[Entry], root: Path, warn: list[str]) -> int:
    """Write files, then symlinks, under `root` (a fresh folder). Returns files written."""
    files: dict[str, Entry] = {}
    links: dict[str, Entry] = {}
    for entry in entries:
        if not all(safe_component(p) for p in entry.path.split("/")):
            warn.append(f"skipped unsafe path {entry.path!r}")
        elif entry.mode in {"100644", "100755"}:
            files[entry.path] = entry
        elif entry.mode == "120000":
            links[entry.path] = entry
        else:
            warn.append(f"skipped {entry.path!r} (mode {entry.mode}: submodule or unknown)")
    # One blob in memory at a time (a repository of notebooks with outputs is large); the
    # files of each blob are written as it arrives, symlink targets kept for the end.
    paths_of: dict[str, list[str]] = {}
    for path, entry in files.items():
        paths_of.setdefault(entry.oid, []).append(path)
    link_oids = {e.oid for e in links.values()}
    wanted = list(dict.fromkeys([*paths_of, *link_oids]))
    targets: dict[str, str] = {}
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for oid, data in read_blobs(gitdir, wanted):
            for path in paths_of.get(oid, []):
                _write_file(root_fd, path, data)
            if oid in link_oids:
                targets[oid] = data.decode("utf-8", "replace")
        for path in sorted(links):
            target = targets[links[path].oid]
            if not link_allowed(path, target, set(links)):
                warn.append(f"skipped symlink {path!r} -> {target!r} (leaves the tree)")
                continue
            parent_fd = _open_parent(root_fd, path)
            try:
                os.symlink(target, path.rsplit("/", 1)[-1], dir_fd=parent_fd)
            except FileExistsError:
                warn.append(f"skipped symlink {path!r}: the name is taken")
            finally:
                os.close(parent_fd)
    finally:
        os.close(root_fd)
    return len(files)


def _open_parent(root_fd: int, path: str) -> int:
    """The folder holding `path`, created as needed, opened without following any symlink."""
    fd = os.dup(root_fd)
    for part in path.split("/")[:-1]:
        try:
            os.mkdir(part, 0o755, dir_fd=fd)
        except FileExistsError:
            pass
        try:
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        finally:
            os.close(fd)
        fd = child
    return fd


def _write_file(root_fd: int, path: str, data: bytes) -> None:
    parent_fd = _open_parent(root_fd, path)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        fd = os.open(path.rsplit("/", 1)[-1], flags, 0o444, dir_fd=parent_fd)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
    finally:
        os.close(parent_fd)


def set_read_only(root: Path) -> None:
    """Files 0444, folders 0555, deepest first; symlinks are never followed."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            full = os.path.join(dirpath, name)
            if not os.path.islink(full):
                os.chmod(full, 0o444)
        for name in dirnames:
            full = os.path.join(dirpath, name)
            if not os.path.islink(full):
                os.chmod(full, 0o555)  # noqa: S103 - read-only for everyone, on purpose
    os.chmod(root, 0o555)  # noqa: S103 - read-only for everyone, on purpose


def remove_tree(path: Path) -> None:
    """Remove one of our read-only trees (write permission back first, symlinks not followed)."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
        return
    for dirpath, dirnames, _files in os.walk(path):
        os.chmod(dirpath, 0o700)  # only to delete it
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
    shutil.rmtree(path)


# --- publishing ----------------------------------------------------------------------------


def current_tree(dest: Path, name: str) -> str | None:
    link = dest / name
    if not link.is_symlink():
        return None
    target = os.readlink(link)
    prefix = f"{TREES}/"
    return target[len(prefix) :] if target.startswith(prefix) else None


def swap_link(dest: Path, name: str, tree: str) -> None:
    """Point DEST/<name> at the tree in one rename (readers never see a half-written tree)."""
    link = dest / name
    if link.exists() and not link.is_symlink():
        raise SyncError(BAD_DEST, f"{link} exists and is not our link; move it away")
    tmp = dest / f".{name}.{secrets.token_hex(4)}.link"
    os.symlink(f"{TREES}/{tree}", tmp)
    os.replace(tmp, link)


def prune(dest: Path, keep: dict[str, set[str]]) -> None:
    """Remove trees neither current nor previous, and links of sources no longer configured."""
    trees = dest / TREES
    for entry in dest.iterdir():
        if entry.is_symlink() and entry.name not in keep and current_tree(dest, entry.name):
            entry.unlink()
        elif entry.name.startswith(".") and entry.name.endswith(".link") and entry.is_symlink():
            entry.unlink()  # left by an interrupted swap
    for tree in trees.iterdir():
        name = tree.name.split(".", 1)[0]
        if tree.name not in keep.get(name, set()):
            remove_tree(tree)


def sync_source(source: Source, dest: Path, log: list[str]) -> tuple[str | None, str | None]:
    """Publish one source; returns (current tree, previous tree)."""
    previous = current_tree(dest, source.name)
    with tempfile.TemporaryDirectory(prefix="tutorial-sync-") as tmp:
        gitdir = Path(tmp) / "repo.git"
        git(gitdir, "init", "--quiet", "--bare")
        commit = fetch_commit(gitdir, source)
        stem = f"{source.name}.{commit}.{source.fingerprint}"
        if previous and previous.rsplit(".", 1)[0] == stem and (dest / TREES / previous).is_dir():
            log.append(f"{source.name}: already at {commit}")
            return previous, None
        entries = list_tree(gitdir, commit, source)
        tree = f"{stem}.{secrets.token_hex(4)}"
        root = dest / TREES / tree
        root.mkdir(mode=0o755)
        warnings: list[str] = []
        count = write_tree(gitdir, entries, root, warnings)
        set_read_only(root)
    swap_link(dest, source.name, tree)
    log.extend(f"{source.name}: warning: {w}" for w in warnings)
    log.append(f"{source.name}: {source.repo} {source.ref} ({commit}) -> {count} files")
    return tree, previous


def sync(sources: list[Source], dest: Path) -> int:
    try:
        (dest / TREES).mkdir(parents=True, exist_ok=True)
        lock = os.open(dest / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        print(f"tutorial-sync: destination {dest}: {exc}", file=sys.stderr)
        return BAD_DEST
    status = OK
    with os.fdopen(lock) as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)  # one sync at a time on a shared folder
        keep: dict[str, set[str]] = {}
        for source in sources:
            log: list[str] = []
            try:
                tree, previous = sync_source(source, dest, log)
                keep[source.name] = {t for t in (tree, previous) if t}
            except SyncError as exc:
                log.append(f"{source.name}: error: {exc}")
                status = status or exc.code
                old = current_tree(dest, source.name)
                keep[source.name] = {old} if old else set()
            for line in log:
                print(f"tutorial-sync: {line}", file=sys.stderr if "error" in line else sys.stdout)
        prune(dest, keep)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, required=True, help="JSON file of the sources")
    parser.add_argument("--dest", type=Path, required=True, help="the shared tutorials folder")
    args = parser.parse_args(argv)
    try:
        sources = load_config(args.config)
    except SyncError as exc:
        print(f"tutorial-sync: {exc}", file=sys.stderr)
        return exc.code
    os.umask(0o022)
    return sync(sources, args.dest)


if __name__ == "__main__":
    sys.exit(main())
