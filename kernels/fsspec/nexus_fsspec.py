"""The platform's fsspec read cache for S3: small first reads, growing reads when sequential.

Registered with fsspec as cache type ``nexus-readahead`` when the kernel's Python starts (through
``nexus_fsspec.pth``), and made the default for S3 by the kernels' fsspec configuration
(``FSSPEC_CONFIG_DIR``/conf.json).

Why not one of fsspec's own caches: a Roman ASDF file keeps its metadata in a few kilobytes at the
start and its block index at the end, and its arrays in large compressed blocks that are read in
small sequential chunks. s3fs's default (``readahead`` with 50 MB blocks) reads 50 MB to look at
the metadata. A small ``readahead`` block fixes that, but then reading one array takes thousands
of requests. This cache starts small (64 KiB, or the block size if that is smaller), doubles its
read-ahead on every sequential miss up to ``max_blocksize`` and falls back to the small size
after a jump.

The small start is the cache's own, not the filesystem's block size: s3fs also uses
``default_block_size`` as the part size of ``fs.get`` (a 115 MB download in 64 KiB parts is
thousands of requests), so the platform leaves that at s3fs's 50 MB.
"""

from __future__ import annotations

from typing import Any

from fsspec.caching import BaseCache, caches, register_cache

__all__ = ["NAME", "GrowingReadAheadCache"]

NAME = "nexus-readahead"
INITIAL_BLOCKSIZE = 64 * 1024
MAX_BLOCKSIZE = 16 * 1024 * 1024


class GrowingReadAheadCache(BaseCache):  # type: ignore[misc]
    """A read-ahead window that doubles on sequential misses and resets on random access."""

    name = NAME

    def __init__(
        self, blocksize: int, fetcher: Any, size: int, max_blocksize: int = MAX_BLOCKSIZE
    ) -> None:
        # the first read and every jump fetch this little beyond what was asked
        super().__init__(min(blocksize, INITIAL_BLOCKSIZE), fetcher, size)
        self.max_blocksize = max(self.blocksize, max_blocksize)
        self.readahead = self.blocksize
        self.cache = b""
        self.start = 0
        self.end = 0

    def _fetch(self, start: int | None, end: int | None) -> bytes:
        if start is None:
            start = 0
        if end is None or end > self.size:
            end = self.size
        if start >= self.size or start >= end:
            return b""
        if self.start <= start and end <= self.end:
            self.hit_count += 1
            return self.cache[start - self.start : end - self.start]
        self.miss_count += 1
        sequential = self.end > 0 and self.start <= start <= self.end + self.readahead
        self.readahead = (
            min(self.readahead * 2, self.max_blocksize) if sequential else self.blocksize
        )
        wanted = end - start
        part = b""
        if self.start <= start < self.end:
            part = self.cache[start - self.start :]
            wanted -= len(part)
            start = self.end
        fetch_end = min(self.size, start + wanted + self.readahead)
        self.total_requested_bytes += fetch_end - start
        self.cache = self.fetcher(start, fetch_end)
        self.start = start
        self.end = start + len(self.cache)
        return part + self.cache[:wanted]


if caches.get(NAME) is not GrowingReadAheadCache:
    register_cache(GrowingReadAheadCache, clobber=True)
