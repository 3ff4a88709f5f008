"""Tutorial sources: the configuration file and fetching one configured ref with git.

Used by tutorial_sync.py (the CLI and the publishing); standard library and git only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

OK, FAILED, BAD_CONFIG, UNREACHABLE, BAD_REF, BAD_PATH, BAD_DEST = 0, 1, 2, 3, 4, 5, 6
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")
SHA_RE = re.compile(r"^[0-9a-f]{40}$")
GIT_TIMEOUT = 600  # seconds for one git command; a hung transfer must not hold the CronJob
SOURCE_KEYS = {"name", "repo", "ref", "path"}


class SyncError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Source:
    name: str
    repo: str
    ref: str
    path: str  # "" for the whole repository

    @property
    def fingerprint(self) -> str:
        """Changes when what was configured changes, so a new path re-syncs the same commit."""
        text = json.dumps([self.repo, self.ref, self.path])
        return hashlib.sha256(text.encode()).hexdigest()[:8]


# --- configuration -------------------------------------------------------------------------


def _clean_relpath(value: str) -> str:
    """A relative path inside a repository, or raise ValueError."""
    parts = value.strip("/").split("/") if value.strip("/") else []
    if value.startswith("/") or any(not safe_component(p) for p in parts):
        raise ValueError(f"{value!r} is not a relative path without '.', '..' or '.git'")
    return "/".join(parts)


def safe_component(part: str) -> bool:
    return part not in {"", ".", ".."} and part.casefold() != ".git" and "\0" not in part


def _check_repo(repo: str) -> str:
    if repo.startswith("https://") or repo.startswith("file:///"):
        return repo
    if repo.startswith("/") and not repo.startswith("//"):
        return repo  # a local repository (make dev, tests)
    raise ValueError(f"repo {repo!r}: use an https:// URL or a local absolute path")


def _check_ref(ref: str) -> str:
    bad = ".." in ref or "//" in ref or ref.endswith(("/", ".lock")) or "@{" in ref
    if not REF_RE.match(ref) or bad:
        raise ValueError(f"ref {ref!r} is not a branch, tag or full commit id")
    return ref


def load_config(path: Path) -> list[Source]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SyncError(BAD_CONFIG, f"cannot read the configuration {path}: {exc}") from exc
    if (
        not isinstance(data, dict)
        or set(data) != {"sources"}
        or not isinstance(data["sources"], list)
    ):
        raise SyncError(BAD_CONFIG, f'{path}: expected {{"sources": [...]}} and nothing else')
    sources: list[Source] = []
    for i, item in enumerate(data["sources"]):
        where = f"{path}: sources[{i}]"
        if not isinstance(item, dict) or not all(isinstance(v, str) for v in item.values()):
            raise SyncError(BAD_CONFIG, f"{where}: expected an object of strings")
        unknown = set(item) - SOURCE_KEYS
        missing = {"name", "repo", "ref"} - set(item)
        if unknown or missing:
            raise SyncError(
                BAD_CONFIG, f"{where}: unknown keys {sorted(unknown)}, missing {sorted(missing)}"
            )
        if not NAME_RE.match(item["name"]):
            raise SyncError(
                BAD_CONFIG, f"{where}: name {item['name']!r} must match {NAME_RE.pattern}"
            )
        try:
            source = Source(
                name=item["name"],
                repo=_check_repo(item["repo"]),
                ref=_check_ref(item["ref"]),
                path=_clean_relpath(item.get("path", "")),
            )
        except ValueError as exc:
            raise SyncError(BAD_CONFIG, f"{where}: {exc}") from exc
        if any(s.name == source.name for s in sources):
            raise SyncError(BAD_CONFIG, f"{where}: name {source.name!r} is used twice")
        sources.append(source)
    return sources


# --- git -----------------------------------------------------------------------------------


def git_env() -> dict[str, str]:
    """No prompts, no user or system configuration; only https and local transports."""
    settings = {
        "protocol.allow": "never",
        "protocol.https.allow": "always",
        "protocol.file.allow": "always",
        "transfer.fsckObjects": "true",
        "http.lowSpeedLimit": "1000",
        "http.lowSpeedTime": "60",
    }
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": tempfile.gettempdir(),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_COUNT": str(len(settings)),
    }
    for i, (key, value) in enumerate(settings.items()):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env


def git(gitdir: Path, *args: str, code: int = FAILED, what: str = "git") -> str:
    cmd = ["git", f"--git-dir={gitdir}", *args]
    try:
        done = subprocess.run(
            cmd, env=git_env(), capture_output=True, text=True, timeout=GIT_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise SyncError(code, f"{what}: git {args[0]} took more than {GIT_TIMEOUT} s") from exc
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
        raise SyncError(code, f"{what}: {lines[-1] if lines else 'git ' + args[0] + ' failed'}")
    return done.stdout


def resolve_remote(gitdir: Path, source: Source) -> tuple[str, str]:
    """What to fetch and the commit it must be; 3 if the remote is unreachable, 4 if unknown."""
    heads = git(
        gitdir, "ls-remote", "--", source.repo, code=UNREACHABLE,
        what=f"cannot reach {source.repo}",
    )  # fmt: skip
    refs: dict[str, str] = {}
    for line in heads.splitlines():
        sha, _, name = line.partition("\t")
        refs[name] = sha
    if SHA_RE.match(source.ref):
        return source.ref, source.ref  # checked against what is fetched below
    for name in (f"refs/tags/{source.ref}", f"refs/heads/{source.ref}"):
        if name in refs:
            return name, refs.get(f"{name}^{{}}", refs[name])  # an annotated tag: its commit
    raise SyncError(BAD_REF, f"ref {source.ref!r} is not a branch or tag of {source.repo}")


def fetch_commit(gitdir: Path, source: Source) -> str:
    want, expected = resolve_remote(gitdir, source)
    git(
        gitdir, "fetch", "--quiet", "--depth=1", "--no-tags", "--", source.repo,
        f"+{want}:refs/nexus/want", code=BAD_REF,
        what=f"cannot fetch {source.ref!r} from {source.repo}",
    )  # fmt: skip
    commit = git(gitdir, "rev-parse", "--verify", "refs/nexus/want^{commit}", code=BAD_REF).strip()
    if commit != expected:
        raise SyncError(
            BAD_REF, f"ref {source.ref!r} fetched {commit}, not {expected} (moved? next run)"
        )
    return commit


@dataclass(frozen=True)
class Entry:
    mode: str
    oid: str
    path: str


def list_tree(gitdir: Path, commit: str, source: Source) -> list[Entry]:
    spec = f"{commit}:{source.path}" if source.path else f"{commit}^{{tree}}"
    kind = subprocess.run(
        ["git", f"--git-dir={gitdir}", "cat-file", "-t", spec],
        env=git_env(), capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    if kind != "tree":
        raise SyncError(
            BAD_PATH, f"path {source.path!r} is not a folder of {source.ref} ({commit})"
        )
    out = git(gitdir, "ls-tree", "-r", "-z", spec)
    entries = []
    for record in out.split("\0"):
        if record:
            meta, _, path = record.partition("\t")
            mode, _kind, oid = meta.split(" ")
            entries.append(Entry(mode, oid, path))
    return entries


def read_blobs(gitdir: Path, oids: list[str]) -> Iterator[tuple[str, bytes]]:
    """The contents of the blobs, streamed through one `git cat-file --batch`."""
    proc = subprocess.Popen(
        ["git", f"--git-dir={gitdir}", "cat-file", "--batch"],
        env=git_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for oid in oids:
            proc.stdin.write(f"{oid}\n".encode())
            proc.stdin.flush()
            header = proc.stdout.readline().decode().split()
            if len(header) != 3 or header[1] != "blob":
                raise SyncError(FAILED, f"object {oid} is not a blob: {header}")
            data = proc.stdout.read(int(header[2]))
            proc.stdout.read(1)  # the newline after each object
            yield oid, data
    finally:
        proc.stdin.close()
        proc.wait(timeout=GIT_TIMEOUT)
