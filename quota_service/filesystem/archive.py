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

Restore is in ``restore.py`` (re-exported here).
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .executor import ArchiveFailedError, FileChangedError
from .manifest import Entry
from .walk import mount_id, open_noatime

READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
CHUNK = 8 * 1024 * 1024


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def open_file_at(dir_fd: int, name: bytes) -> int:
    """Open a regular file under `dir_fd` for reading without following a symlink."""
    return open_noatime(name, READ_FLAGS, dir_fd)


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


# Restore lives in its own module; re-exported here for the callers that import it from here.
from .restore import RestoreResult, restore  # noqa: E402

__all__ = ["RestoreResult", "S3Archiver", "restore"]
