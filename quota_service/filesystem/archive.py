"""Archive files to S3 (boto3), verify every object, and restore them with their times and modes.

Upload: the file is opened relative to its directory descriptor with ``O_NOFOLLOW`` (and
``O_NOATIME``, so reading it does not make it look used), checked to be the planned inode, read
once while its SHA-256 is computed, and sent with that checksum (``ChecksumSHA256``; S3 rejects a
body that does not match). Files above ``multipart_threshold`` go in parts, each with its own
checksum. The copy is then verified before the caller may remove the local file:
``head_object`` must report the planned size and the same SHA-256 (for a multipart object, the
checksum of the part checksums). With ``verify="readback"``, or when the server stores no
checksum, the object is read back and hashed instead. Finally the file is ``fstat``'d again: if it
changed while it was read, the object is deleted and the file kept.

Restore writes each file to a temporary name in its directory (``O_CREAT | O_EXCL |
O_NOFOLLOW``), checks size and SHA-256 against the journal, sets owner, mode and times, fsyncs and
links it into place with ``linkat`` (which never replaces an existing name). A different file
already at that name is left alone and the restored copy is put beside it as
``NAME.restored-RUNID``. Directories are recreated with their modes, owners and times, and
symlinks with their targets. Restoring twice is harmless: an identical file already in place is
counted as restored.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .executor import ArchiveFailedError, FileChangedError
from .journal import DONE, UPLOADED, FileJournal
from .manifest import ARCHIVE, RMDIR, Entry, Header, display, read_entries, read_header
from .walk import NOATIME, UnsafePathError, mount_id, open_dir, open_subdir

READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
CHUNK = 8 * 1024 * 1024


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def open_file_at(dir_fd: int, name: bytes) -> int:
    """Open a regular file under `dir_fd` for reading without following a symlink."""
    if NOATIME:
        try:
            return os.open(name, READ_FLAGS | NOATIME, dir_fd=dir_fd)
        except PermissionError:
            pass
    return os.open(name, READ_FLAGS, dir_fd=dir_fd)


def _same(st: os.stat_result, entry: Entry) -> bool:
    return (
        stat.S_ISREG(st.st_mode)
        and st.st_ino == entry.ino
        and st.st_dev == entry.dev
        and st.st_size == entry.size
        and st.st_mtime_ns == entry.mtime_ns
        and st.st_ctime_ns == entry.ctime_ns
    )


@dataclass
class S3Archiver:
    """Uploads to `bucket` with `storage_class`; keys come from the manifest."""

    client: Any
    bucket: str
    storage_class: str = "STANDARD"
    multipart_threshold: int = 64 * 1024 * 1024
    part_size: int = 16 * 1024 * 1024
    verify: str = "checksum"  # or "readback"

    def upload(self, dir_fd: int, name: bytes, entry: Entry) -> str:
        if entry.archive_key is None:
            raise ArchiveFailedError("the manifest entry has no archive key")
        try:
            fd = open_file_at(dir_fd, name)
        except OSError as exc:
            raise FileChangedError(f"cannot open it safely: {exc.strerror}") from None
        try:
            if not _same(os.fstat(fd), entry):
                raise FileChangedError("not the planned file any more")
            if mount_id(fd) != mount_id(dir_fd):  # a bind-mounted file: someone else's data
                raise FileChangedError("a mount point")
            try:
                if entry.size <= self.multipart_threshold:
                    sha, expected = self._put(fd, entry)
                else:
                    sha, expected = self._put_multipart(fd, entry)
                self._verify(entry, sha, expected)
            except (OSError, FileChangedError):
                raise
            except Exception as exc:  # botocore errors: left for a rerun
                raise ArchiveFailedError(f"{type(exc).__name__}: {exc}") from None
            if not _same(os.fstat(fd), entry):
                self._delete_quietly(entry.archive_key)
                raise FileChangedError("modified while it was archived")
            return sha
        finally:
            os.close(fd)

    def _metadata(self, entry: Entry) -> dict[str, str]:
        return {
            "nexus-mode": oct(stat.S_IMODE(entry.mode)),
            "nexus-mtime-ns": str(entry.mtime_ns),
            "nexus-atime-ns": str(entry.atime_ns),
            "nexus-uid": str(entry.uid),
            "nexus-gid": str(entry.gid),
        }

    def _put(self, fd: int, entry: Entry) -> tuple[str, str]:
        chunks = []
        remaining = entry.size
        while remaining > 0:
            chunk = os.read(fd, min(CHUNK, remaining))
            if not chunk:
                raise FileChangedError("shorter than planned")
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
        digest = hashlib.sha256(data).digest()
        self.client.put_object(
            Bucket=self.bucket,
            Key=entry.archive_key,
            Body=data,
            StorageClass=self.storage_class,
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=_b64(digest),
            Metadata=self._metadata(entry),
        )
        return digest.hex(), _b64(digest)

    def _put_multipart(self, fd: int, entry: Entry) -> tuple[str, str]:
        key = entry.archive_key
        up = self.client.create_multipart_upload(
            Bucket=self.bucket,
            Key=key,
            StorageClass=self.storage_class,
            ChecksumAlgorithm="SHA256",
            Metadata=self._metadata(entry),
        )
        upload_id = up["UploadId"]
        whole = hashlib.sha256()
        part_digests: list[bytes] = []
        parts: list[dict[str, Any]] = []
        try:
            remaining = entry.size
            number = 1
            while remaining > 0:
                want = min(self.part_size, remaining)
                buf = bytearray()
                while len(buf) < want:
                    chunk = os.read(fd, want - len(buf))
                    if not chunk:
                        raise FileChangedError("shorter than planned")
                    buf += chunk
                data = bytes(buf)
                whole.update(data)
                d = hashlib.sha256(data).digest()
                part_digests.append(d)
                resp = self.client.upload_part(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=data,
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=_b64(d),
                )
                parts.append(
                    {"ETag": resp["ETag"], "PartNumber": number, "ChecksumSHA256": _b64(d)}
                )
                remaining -= len(data)
                number += 1
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise
        composite = _b64(hashlib.sha256(b"".join(part_digests)).digest())
        return whole.hexdigest(), f"{composite}-{len(parts)}"

    def _verify(self, entry: Entry, sha_hex: str, expected: str) -> None:
        key = entry.archive_key
        assert key is not None
        head = self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        if int(head["ContentLength"]) != entry.size:
            raise ArchiveFailedError(
                f"object size {head['ContentLength']} differs from the file's {entry.size}"
            )
        stored = head.get("ChecksumSHA256")
        if self.verify == "checksum" and stored:
            # A multipart object's checksum is "<checksum of part checksums>-<parts>".
            if stored.split("-")[0] != expected.split("-")[0]:
                raise ArchiveFailedError("the object's SHA-256 differs from the file's")
            return
        got = hashlib.sha256()
        for chunk in self._stream(key):
            got.update(chunk)
        if got.hexdigest() != sha_hex:
            raise ArchiveFailedError("the object read back does not match the file's SHA-256")

    def _stream(self, key: str) -> Iterator[bytes]:
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            while True:
                chunk = body.read(CHUNK)
                if not chunk:
                    return
                yield chunk
        finally:
            body.close()

    def _delete_quietly(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except Exception:  # noqa: S110 - best effort: an orphan object harms no one
            pass

    def put_json_lines(self, key: str, path: Path) -> None:
        """Keep a copy of a manifest or journal beside the archived objects."""
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=path.read_bytes(),
            ChecksumAlgorithm="SHA256",
            ContentType="application/x-ndjson",
        )


@dataclass
class RestoreResult:
    files: int = 0
    symlinks: int = 0
    dirs: int = 0
    already: int = 0
    beside: int = 0
    bytes: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)


def restore(
    manifest: Path,
    journal_path: Path,
    archiver: S3Archiver,
) -> RestoreResult:
    """Bring back everything the manifest archived and the journal says was removed."""
    header = read_header(manifest)
    steps = FileJournal(journal_path).load() if journal_path.exists() else {}
    result = RestoreResult()
    root_fd = open_dir(header.root)
    try:
        st = os.fstat(root_fd)
        if st.st_dev != header.root_dev:
            raise ArchiveFailedError(f"{display(header.root)} is on another file system now")
        dirs: list[Entry] = []
        for entry in read_entries(manifest):
            if entry.action == RMDIR:
                dirs.append(entry)
        # Directories first (shallowest first), so files land in them with the right modes.
        dirs.sort(key=lambda e: len(e.parts))
        for entry in dirs:
            _restore_dir(root_fd, header, entry, result)
        for entry in read_entries(manifest):
            if entry.action != ARCHIVE:
                continue
            step = steps.get(entry.seq)
            if step is None or step.state not in (DONE, UPLOADED):
                continue  # never removed: nothing to bring back
            try:
                parent = _make_parents(root_fd, header, entry.parts[:-1])
            except OSError as exc:
                result.errors.append((display(entry.path), exc.strerror or str(exc)))
                continue
            try:
                if entry.kind == "symlink":
                    _restore_symlink(parent, entry, result)
                elif entry.kind == "file":
                    _restore_file(parent, header, entry, step.sha256, archiver, result)
            except (OSError, ArchiveFailedError) as exc:
                result.errors.append((display(entry.path), str(exc)))
            finally:
                if parent != root_fd:
                    os.close(parent)
        # Directory times last, deepest first: creating entries changed them.
        for entry in reversed(dirs):
            try:
                parent = _make_parents(root_fd, header, entry.parts[:-1])
            except OSError:
                continue
            try:
                os.utime(
                    entry.parts[-1],
                    ns=(entry.atime_ns, entry.mtime_ns),
                    dir_fd=parent,
                    follow_symlinks=False,
                )
            except OSError as exc:
                result.errors.append((display(entry.path), exc.strerror or str(exc)))
            finally:
                if parent != root_fd:
                    os.close(parent)
    finally:
        os.close(root_fd)
    return result


def _make_parents(root_fd: int, header: Header, parts: tuple[bytes, ...]) -> int:
    """Open (creating when missing, mode 0700) the directory `parts` under the root."""
    fd = root_fd
    for comp in parts:
        try:
            nfd = open_subdir(fd, comp, header.root_dev)
        except FileNotFoundError:
            os.mkdir(comp, 0o700, dir_fd=fd)
            nfd = open_subdir(fd, comp, header.root_dev)
        except UnsafePathError:
            if fd != root_fd:
                os.close(fd)
            raise
        if fd != root_fd:
            os.close(fd)
        fd = nfd
    return fd


def _restore_dir(root_fd: int, header: Header, entry: Entry, result: RestoreResult) -> None:
    try:
        parent = _make_parents(root_fd, header, entry.parts[:-1])
    except OSError as exc:
        result.errors.append((display(entry.path), exc.strerror or str(exc)))
        return
    name = entry.parts[-1]
    try:
        try:
            os.mkdir(name, 0o700, dir_fd=parent)
            result.dirs += 1
        except FileExistsError:
            pass
        fd = open_subdir(parent, name, header.root_dev)
        try:
            os.fchown(fd, entry.uid, entry.gid)
            os.fchmod(fd, stat.S_IMODE(entry.mode))
        finally:
            os.close(fd)
    except OSError as exc:
        result.errors.append((display(entry.path), exc.strerror or str(exc)))
    finally:
        if parent != root_fd:
            os.close(parent)


def _restore_symlink(parent: int, entry: Entry, result: RestoreResult) -> None:
    name = entry.parts[-1]
    assert entry.link_target is not None
    try:
        os.symlink(entry.link_target, name, dir_fd=parent)
    except FileExistsError:
        try:
            if os.readlink(name, dir_fd=parent) == entry.link_target:
                result.already += 1
                return
        except OSError:
            pass
        os.symlink(entry.link_target, name + b".restored", dir_fd=parent)
        result.beside += 1
    os.chown(name, entry.uid, entry.gid, dir_fd=parent, follow_symlinks=False)
    os.utime(name, ns=(entry.atime_ns, entry.mtime_ns), dir_fd=parent, follow_symlinks=False)
    result.symlinks += 1


def _restore_file(
    parent: int,
    header: Header,
    entry: Entry,
    sha_hex: str | None,
    archiver: S3Archiver,
    result: RestoreResult,
) -> None:
    name = entry.parts[-1]
    assert entry.archive_key is not None
    try:
        cur = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        cur = None
    if (
        cur is not None
        and stat.S_ISREG(cur.st_mode)
        and cur.st_size == entry.size
        and cur.st_mtime_ns == entry.mtime_ns
    ):
        result.already += 1
        return
    tmp = b".nexus-restore-%d.tmp" % entry.seq
    try:
        os.unlink(tmp, dir_fd=parent)
    except FileNotFoundError:
        pass
    fd = os.open(
        tmp,
        os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
        0o600,
        dir_fd=parent,
    )
    try:
        got = hashlib.sha256()
        size = 0
        for chunk in archiver._stream(entry.archive_key):
            got.update(chunk)
            size += len(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
        if size != entry.size or (sha_hex is not None and got.hexdigest() != sha_hex):
            raise ArchiveFailedError("the archived object does not match the manifest")
        os.fchown(fd, entry.uid, entry.gid)
        os.fchmod(fd, stat.S_IMODE(entry.mode))
        os.fsync(fd)
        os.utime(fd, ns=(entry.atime_ns, entry.mtime_ns))
    except BaseException:
        os.close(fd)
        os.unlink(tmp, dir_fd=parent)
        raise
    os.close(fd)
    target = name if cur is None else name + b".restored-" + header.run_id.encode()
    try:
        os.link(tmp, target, src_dir_fd=parent, dst_dir_fd=parent, follow_symlinks=False)
    except FileExistsError:
        target = name + b".restored-" + header.run_id.encode()
        os.link(tmp, target, src_dir_fd=parent, dst_dir_fd=parent, follow_symlinks=False)
    os.unlink(tmp, dir_fd=parent)
    if target != name:
        result.beside += 1
    result.files += 1
    result.bytes += size
