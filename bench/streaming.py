"""S3 streaming benchmark: bytes the S3 server sent and wall time, with and without the platform's
fsspec defaults, for a full-size (4088 x 4088) Roman Level 2 file.

    make bench-streaming          # or: .venv/bin/python -m bench.streaming [--repeats 3]

It starts moto's S3 server with a server-side request log (tests/support/s3_logged.py), uploads
the full-size synthetic files (`notebooks/data/make_data.py --full-size`, built once into
.state/data/full), then runs each read in a fresh Roman Research Nexus kernel Python
(bench/streaming_reads.py): the seeds' code on s3fs's defaults, unchanged. The only difference
between the two runs is FSSPEC_CONFIG_DIR: the kernel's configuration, or an empty folder.

Bytes and requests come from the server's log. Seconds are measured inside the reading process
(imports excluded); they are loopback times against moto, whose cost per request is high because
it copies the whole object for every ranged GET, so request counts matter more than they would on
AWS. Results: bench/results/streaming.json and bench/results/streaming.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.kernels import KERNEL_VENVS, RRN, make_data, require_kernel
from tests.support.processes import REPO_ROOT
from tests.support.s3_logged import RequestLog, start_logged_moto

RESULTS = REPO_ROOT / "bench" / "results"
READS = REPO_ROOT / "bench" / "streaming_reads.py"
FITS_KEY = "bench/Roman_TDS_simple_model_F184_13012_10.fits"
CASES = [
    ("metadata (rdm.open + dm.info())", "meta", "asdf"),
    ("100 x 100 cutout of dm.data", "cutout", "asdf"),
    ("full dm.data array", "full", "asdf"),
    ("FITS 100 x 100 hdu.section (astropy + fsspec)", "fits-section", "fits"),
    ("whole file: fs.get to a local file", "get", "asdf"),
    ("whole file: fs.open(...).read()", "read-all", "asdf"),
]
CONFIGS = [("platform defaults", True), ("s3fs defaults", False)]


def run_read(py: Path, env: dict[str, str], log: RequestLog, read: str, uri: str) -> dict[str, Any]:
    mark = log.mark()
    proc = subprocess.run(
        [str(py), str(READS), read, uri], env=env, capture_output=True, text=True, timeout=1800
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{read} {uri} failed:\n{proc.stderr}")
    out: dict[str, Any] = json.loads(proc.stdout)
    sent, gets = log.bytes_for(uri.split("/", 3)[-1], mark)
    return {"seconds": out["seconds"], "bytes": sent, "requests": gets, "result": out}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="S3 streaming benchmark")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / ".state" / "data")
    args = parser.parse_args(argv)

    py = require_kernel(RRN)
    platform_conf = KERNEL_VENVS / RRN / "etc" / "fsspec"
    log_dir = REPO_ROOT / "build" / "bench-logs"
    proc, endpoint, log = start_logged_moto(log_dir)
    one_byte: list[float] = []
    started = time.time()
    try:
        print("uploading full-size synthetic files ...", flush=True)
        data = make_data(endpoint, args.data_dir, "--full-size")
        asdf = next(f for f in data.files if f["name"].endswith("_cal.asdf"))
        ou = next(f for f in data.files if f["name"].endswith(".fits.gz"))
        fits_bytes = gzip.decompress(Path(ou["path"]).read_bytes())
        endpoint.client().put_object(Bucket="nasa-irsa-simulations", Key=FITS_KEY, Body=fits_bytes)
        client = endpoint.client()

        for _ in range(5):
            t0 = time.perf_counter()
            client.get_object(Bucket="stpubdata", Key=asdf["key"], Range="bytes=0-0")["Body"].read()
            one_byte.append(time.perf_counter() - t0)
        print(
            f"moto: one 1-byte ranged GET of the Level 2 file: {statistics.median(one_byte):.3f} s"
        )
        files = {
            "asdf": (str(asdf["uri"]), int(asdf["size"])),
            "fits": (f"s3://nasa-irsa-simulations/{FITS_KEY}", len(fits_bytes)),
        }
        rows = []
        with tempfile.TemporaryDirectory() as empty_conf:
            for label, read, kind in CASES:
                uri, size = files[kind]
                # The two configurations alternate run by run, so drift in the machine's load
                # (it is shared) falls on both alike.
                all_runs: dict[str, list[dict[str, Any]]] = {c: [] for c, _ in CONFIGS}
                for _ in range(args.repeats):
                    for config, on in CONFIGS:
                        env = {**os.environ, **endpoint.env()}
                        env["FSSPEC_CONFIG_DIR"] = str(platform_conf if on else empty_conf)
                        all_runs[config].append(run_read(py, env, log, read, uri))
                for config, _ in CONFIGS:
                    runs = all_runs[config]
                    row = {
                        "read": label,
                        "config": config,
                        "file_bytes": size,
                        "bytes": runs[0]["bytes"],
                        "bytes_all_runs": [r["bytes"] for r in runs],
                        "requests": runs[0]["requests"],
                        "fraction": runs[0]["bytes"] / size,
                        "seconds_median": statistics.median(r["seconds"] for r in runs),
                        "seconds_all_runs": [round(r["seconds"], 3) for r in runs],
                        "result": runs[0]["result"],
                    }
                    rows.append(row)
                    print(
                        f"{label:48s} {config:18s} {row['bytes']:>12,d} B "
                        f"({100 * row['fraction']:.3f} %) {row['requests']:>3d} GETs "
                        f"{row['seconds_median']:.2f} s",
                        flush=True,
                    )
    finally:
        proc.stop()

    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "server": "moto S3 server on 127.0.0.1 (werkzeug, threaded) with a request log",
        "repeats": args.repeats,
        "wall_seconds": round(time.time() - started, 1),
        "one_byte_get_seconds_median": round(statistics.median(one_byte), 3),
        "fsspec_config": json.loads((platform_conf / "conf.json").read_text()),
    }
    (RESULTS / "streaming.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    (RESULTS / "streaming.md").write_text(render_markdown(meta, rows))
    print(f"wrote {RESULTS / 'streaming.json'} and {RESULTS / 'streaming.md'}")
    return 0


def render_markdown(meta: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    conf = json.dumps(meta["fsspec_config"])
    lines = [
        f"Measured {meta['date_utc']} on {meta['machine']}; {meta['server']}; "
        f"median of {meta['repeats']} runs. Platform defaults: `{conf}`.",
        "",
        "| read | configuration | bytes sent by S3 | share of file | GET requests | seconds |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['read']} | {r['config']} | {r['bytes']:,} | {100 * r['fraction']:.3f} % | "
            f"{r['requests']} | {r['seconds_median']:.2f} |"
        )
    sizes = sorted({(r["read"].startswith("FITS"), r["file_bytes"]) for r in rows})
    lines.append("")
    lines.append(
        f"- moto's cost of one request: a 1-byte ranged GET of the Level 2 file takes "
        f"{meta['one_byte_get_seconds_median']:.3f} s (median of 5)"
    )
    for is_fits, size in sizes:
        kind = "uncompressed FITS (4 HDUs)" if is_fits else "Level 2 ASDF (lz4-compressed blocks)"
        lines.append(f"- {kind}: {size:,} bytes")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
