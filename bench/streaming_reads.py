"""One read of a Roman file on S3, as a tutorial writes it; run with a kernel's Python.

    python bench/streaming_reads.py {meta,cutout,full} s3://bucket/key.asdf
    python bench/streaming_reads.py fits-section s3://bucket/key.fits
    python bench/streaming_reads.py {get,read-all} s3://bucket/key

`get` downloads the whole object with `fs.get` (to a temporary file); `read-all` reads it whole
with `fs.open(uri).read()`.

Cutouts are the central 100 x 100 pixels.

The code is the seeds' code on s3fs's defaults: whatever fsspec configuration is active (the
platform's, through FSSPEC_CONFIG_DIR, or none) decides block size and cache type. Prints one JSON
line: the read, the seconds it took inside this process, and a summary of what it got.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

READS = ("meta", "cutout", "full", "fits-section", "get", "read-all")


def run(read: str, uri: str) -> dict[str, Any]:
    import roman_datamodels as rdm
    import s3fs
    from astropy.io import fits

    start = time.perf_counter()
    summary: dict[str, Any] = {}
    if read in ("get", "read-all"):
        fs = s3fs.S3FileSystem()
        if read == "get":
            with tempfile.TemporaryDirectory() as tmp:
                local = Path(tmp) / "download"
                fs.get(uri, str(local))
                blob = local.read_bytes()
        else:
            with fs.open(uri, "rb") as f:
                blob = f.read()
        seconds = time.perf_counter() - start
        digest = hashlib.sha256(blob).hexdigest()
        return {"read": read, "seconds": seconds, "size": len(blob), "sha256": digest}
    if read == "fits-section":
        with fits.open(uri, use_fsspec=True, fsspec_kwargs={}) as hdul:
            ny, nx = hdul["SCI"].shape
            cut = hdul["SCI"].section[ny // 2 - 50 : ny // 2 + 50, nx // 2 - 50 : nx // 2 + 50]
            summary = {"shape": list(cut.shape), "sum": float(cut.sum())}
    else:
        fs = s3fs.S3FileSystem()
        with fs.open(uri, "rb") as f:
            dm = rdm.open(f)
            if read == "meta":
                with contextlib.redirect_stdout(io.StringIO()) as out:
                    dm.info()
                summary = {
                    "detector": str(dm.meta.instrument.detector),
                    "info_lines": len(out.getvalue().splitlines()),
                }
            elif read == "cutout":
                ny, nx = dm.data.shape
                cut = dm.data[ny // 2 - 50 : ny // 2 + 50, nx // 2 - 50 : nx // 2 + 50]
                summary = {"shape": list(cut.shape), "sum": float(cut.sum())}
            else:
                data = dm.data[:]
                summary = {"shape": list(data.shape), "sum": float(data.sum(dtype="float64"))}
            dm.close()
    return {"read": read, "seconds": time.perf_counter() - start, **summary}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in READS:
        print(f"usage: streaming_reads.py {{{','.join(READS)}}} s3://bucket/key", file=sys.stderr)
        return 2
    print(json.dumps(run(argv[0], argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
