"""The kernels' fsspec defaults: bytes counted by the S3 server itself, not estimated."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.kernels import (
    KERNEL_VENVS,
    RRN,
    RomanData,
    make_data,
    require_kernel,
)
from tests.support.processes import REPO_ROOT, TEST_OUTPUT
from tests.support.s3_logged import RequestLog, start_logged_moto

pytestmark = [pytest.mark.kernels, pytest.mark.integration]

READS = REPO_ROOT / "bench" / "streaming_reads.py"
# The target: metadata of a 158 MB Level 2 file in at most 0.1 % of its bytes.
METADATA_BUDGET = 158_000
FITS_KEY = "bench/Roman_TDS_simple_model_F184_13012_10.fits"


@pytest.fixture(scope="module")
def logged() -> Iterator[tuple[RomanData, RequestLog]]:
    proc, endpoint, log = start_logged_moto(TEST_OUTPUT / "logs")
    try:
        data = make_data(endpoint, TEST_OUTPUT / "data")
        ou = next(f for f in data.files if f["name"].endswith(".fits.gz"))
        s3 = endpoint.client()
        s3.put_object(
            Bucket="nasa-irsa-simulations",
            Key=FITS_KEY,
            Body=gzip.decompress(Path(ou["path"]).read_bytes()),
        )
        yield data, log
    finally:
        proc.stop()


def measure(
    data: RomanData, log: RequestLog, read: str, uri: str, platform_defaults: bool, tmp: Path
) -> tuple[int, int, dict[str, object]]:
    py = require_kernel(RRN)
    env = {**os.environ, **data.endpoint.env()}
    env["FSSPEC_CONFIG_DIR"] = (
        str(KERNEL_VENVS / RRN / "etc" / "fsspec") if platform_defaults else str(tmp)
    )
    mark = log.mark()
    proc = subprocess.run(
        [str(py), str(READS), read, uri], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    sent, gets = log.bytes_for(uri.split("/", 3)[-1], mark)
    return sent, gets, json.loads(proc.stdout)


def test_metadata_read_is_tiny_with_platform_defaults(
    logged: tuple[RomanData, RequestLog], tmp_path: Path
) -> None:
    data, log = logged
    uri = data.uri("_cal.asdf")
    size = next(f["size"] for f in data.files if f["uri"] == uri)
    sent, gets, out = measure(data, log, "meta", uri, True, tmp_path)
    assert out["detector"] == "WFI01"
    assert 0 < sent <= METADATA_BUDGET, sent
    assert sent < size * 0.05
    assert gets <= 4


def test_metadata_read_without_defaults_reads_the_file(
    logged: tuple[RomanData, RequestLog], tmp_path: Path
) -> None:
    """The control: s3fs's own defaults (50 MB blocks) pull the whole small file."""
    data, log = logged
    uri = data.uri("_cal.asdf")
    size = next(f["size"] for f in data.files if f["uri"] == uri)
    sent, _, out = measure(data, log, "meta", uri, False, tmp_path)
    assert out["detector"] == "WFI01"
    assert sent >= size


def test_cutout_and_full_read_need_few_requests(
    logged: tuple[RomanData, RequestLog], tmp_path: Path
) -> None:
    data, log = logged
    uri = data.uri("_cal.asdf")
    size = next(f["size"] for f in data.files if f["uri"] == uri)
    for read in ("cutout", "full"):
        sent, gets, out = measure(data, log, read, uri, True, tmp_path)
        assert sent <= size
        assert gets <= 16, (read, gets)
    assert out["shape"] == [512, 512]


def test_fits_section_read_with_platform_defaults(
    logged: tuple[RomanData, RequestLog], tmp_path: Path
) -> None:
    data, log = logged
    uri = f"s3://nasa-irsa-simulations/{FITS_KEY}"
    with_defaults, _, out = measure(data, log, "fits-section", uri, True, tmp_path)
    without, _, out2 = measure(data, log, "fits-section", uri, False, tmp_path)
    assert out["shape"] == [100, 100] and out["sum"] == out2["sum"]
    assert with_defaults < without / 3, (with_defaults, without)


def test_whole_file_reads_match_s3fs_defaults(
    logged: tuple[RomanData, RequestLog], tmp_path: Path
) -> None:
    """fs.get and fs.open(...).read() of a whole object cost what they cost on s3fs's defaults."""
    data, log = logged
    uri = data.uri("_cal.asdf")
    size = next(f["size"] for f in data.files if f["uri"] == uri)
    for read in ("get", "read-all"):
        ours, our_gets, out = measure(data, log, read, uri, True, tmp_path)
        theirs, their_gets, out2 = measure(data, log, read, uri, False, tmp_path)
        assert out["size"] == size and out["sha256"] == out2["sha256"]
        assert ours <= 1.2 * theirs, (read, ours, theirs)
        assert our_gets <= their_gets, (read, our_gets, their_gets)


def test_growing_readahead_cache() -> None:
    """The cache class itself, over an in-memory byte source: correct bytes, few fetches."""
    py = require_kernel(RRN)
    code = """
import json, random
import fsspec.caching
import nexus_fsspec
blob = bytes(random.Random(1).randrange(256) for _ in range(3_000_000))
calls = []
def fetch(start, end):
    calls.append((start, end))
    return blob[start:end]
cache = fsspec.caching.caches["nexus-readahead"](65536, fetch, len(blob))
# s3fs's own 50 MB block size: the cache still starts small
big = fsspec.caching.caches["nexus-readahead"](50 * 2**20, fetch, len(blob))
big._fetch(0, 8192)
first_big = calls.pop()
out = b"".join(cache._fetch(i, i + 8192) for i in range(0, len(blob), 8192))
sequential_calls = len(calls)
first = calls[0]
calls.clear()
jump = cache._fetch(100, 200)
print(json.dumps({"ok": out == blob and jump == blob[100:200], "seq": sequential_calls,
                  "first": first, "after_jump": calls[0], "first_big": first_big}))
"""
    proc = subprocess.run([str(py), "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout)
    assert result["ok"]
    assert result["first"] == [0, 8192 + 65536]
    assert result["seq"] <= 8, result
    assert result["after_jump"] == [100, 200 + 65536]
    assert result["first_big"] == [0, 8192 + 65536]
