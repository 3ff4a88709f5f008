"""A read-only FUSE passthrough that waits a fixed time in every metadata operation.

Run by bench/storage_shards.py under Debian's Python with Debian's pyfuse3 (`apt-get install
fuse3 python3-pyfuse3`), not the project's venv:

    /usr/bin/python3 bench/fuse_delay.py SOURCE MOUNTPOINT --delay-ms 2

Every LOOKUP, GETATTR, OPENDIR and READDIR (one call per batch of entries) that the kernel
sends is answered after `--delay-ms`, on its own trio task, so requests in flight overlap as
they do against an NFS server (EFS): the wait is latency, not a lock. The kernel's entry and
attribute caches are off (timeouts 0), so each stat reaches this process, as on EFS when the
attributes are not cached. Inodes are the source's inode numbers (the root is FUSE's 1);
nothing is written. Written for the benchmark: not a general file system.
"""

from __future__ import annotations

import argparse
import errno
import os
import stat
import sys

import pyfuse3  # type: ignore[import-not-found]
import trio  # type: ignore[import-not-found]


class DelayFS(pyfuse3.Operations):  # type: ignore[misc]
    def __init__(self, source: str, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.paths: dict[int, str] = {pyfuse3.ROOT_INODE: source}
        self.ops = 0

    async def _wait(self) -> None:
        self.ops += 1
        if self.delay:
            await trio.sleep(self.delay)

    def _path(self, inode: int) -> str:
        try:
            return self.paths[inode]
        except KeyError:
            raise pyfuse3.FUSEError(errno.ENOENT) from None

    def _attrs(self, path: str, st: os.stat_result, inode: int | None = None) -> object:
        entry = pyfuse3.EntryAttributes()
        entry.st_ino = inode if inode is not None else st.st_ino
        for name in ("st_mode", "st_nlink", "st_uid", "st_gid", "st_rdev", "st_size"):
            setattr(entry, name, getattr(st, name))
        entry.st_blksize = st.st_blksize
        entry.st_blocks = st.st_blocks
        entry.st_atime_ns = st.st_atime_ns
        entry.st_mtime_ns = st.st_mtime_ns
        entry.st_ctime_ns = st.st_ctime_ns
        entry.entry_timeout = 0
        entry.attr_timeout = 0
        return entry

    def _stat(self, path: str) -> os.stat_result:
        try:
            return os.lstat(path)
        except OSError as exc:
            raise pyfuse3.FUSEError(exc.errno) from None

    async def lookup(self, parent_inode: int, name: bytes, ctx: object = None) -> object:
        await self._wait()
        path = os.path.join(self._path(parent_inode), os.fsdecode(name))
        st = self._stat(path)
        if st.st_ino != pyfuse3.ROOT_INODE:
            self.paths[st.st_ino] = path
        return self._attrs(path, st)

    async def getattr(self, inode: int, ctx: object = None) -> object:
        await self._wait()
        path = self._path(inode)
        return self._attrs(path, self._stat(path), inode)

    async def readlink(self, inode: int, ctx: object) -> bytes:
        await self._wait()
        return os.readlink(os.fsencode(self._path(inode)))

    async def opendir(self, inode: int, ctx: object) -> int:
        await self._wait()
        if not stat.S_ISDIR(self._stat(self._path(inode)).st_mode):
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        return inode

    async def readdir(self, fh: int, start_id: int, token: object) -> None:
        await self._wait()
        path = self._path(fh)
        try:
            names = sorted(os.listdir(path))
        except OSError as exc:
            raise pyfuse3.FUSEError(exc.errno) from None
        for i, name in enumerate(names[start_id:], start_id):
            child = os.path.join(path, name)
            try:
                st = os.lstat(child)
            except FileNotFoundError:
                continue
            self.paths[st.st_ino] = child
            if not pyfuse3.readdir_reply(token, os.fsencode(name), self._attrs(child, st), i + 1):
                break

    async def releasedir(self, fh: int) -> None:
        return None

    async def open(self, inode: int, flags: int, ctx: object) -> object:
        await self._wait()
        if flags & (os.O_WRONLY | os.O_RDWR):
            raise pyfuse3.FUSEError(errno.EROFS)
        fd = os.open(self._path(inode), os.O_RDONLY)
        return pyfuse3.FileInfo(fh=fd)

    async def read(self, fh: int, off: int, size: int) -> bytes:
        return os.pread(fh, size, off)

    async def release(self, fh: int) -> None:
        os.close(fh)

    async def statfs(self, ctx: object) -> object:
        st = os.statvfs(self.paths[pyfuse3.ROOT_INODE])
        out = pyfuse3.StatvfsData()
        for name in ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files"):
            setattr(out, name, getattr(st, name))
        out.f_ffree = st.f_ffree
        out.f_favail = st.f_favail
        out.f_namemax = st.f_namemax
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("source")
    parser.add_argument("mountpoint")
    parser.add_argument("--delay-ms", type=float, default=2.0)
    args = parser.parse_args()
    fs = DelayFS(os.path.abspath(args.source), args.delay_ms / 1000)
    options = set(pyfuse3.default_options)
    options |= {"fsname=delayfs", "ro", "default_permissions"}
    pyfuse3.init(fs, args.mountpoint, options)
    print("mounted", flush=True)
    try:
        trio.run(pyfuse3.main, 1, 256)
    finally:
        pyfuse3.close(unmount=True)
        print(f"ops {fs.ops}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
