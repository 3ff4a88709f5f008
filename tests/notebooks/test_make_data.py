"""`make data`: synthetic Roman files under the tutorials' keys, rerunnable, clear errors."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.kernels import MAKE_DATA, RRN, RomanData, make_data, require_kernel
from tests.support.processes import free_port
from tests.support.s3 import S3Endpoint

pytestmark = [pytest.mark.kernels, pytest.mark.integration]

EXPECTED_KEYS = {
    "stpubdata": {
        "roman/nexus/soc_simulations/tutorial_data/r0003201001001001004_0001_wfi01_f106_uncal.asdf",
        "roman/nexus/soc_simulations/tutorial_data/r0003201001001001004_0001_wfi01_f106_cal.asdf",
    },
    "nasa-irsa-simulations": {
        "openuniverse2024/roman/preview/RomanTDS/images/simple_model/F184/13012/"
        "Roman_TDS_simple_model_F184_13012_10.fits.gz"
    },
}


def run_make_data(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    py = require_kernel(RRN)
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    return subprocess.run(
        [str(py), str(MAKE_DATA), *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_files_land_under_the_tutorials_keys(roman_data: RomanData) -> None:
    ep = roman_data.endpoint
    s3 = ep.client()
    for bucket, keys in EXPECTED_KEYS.items():
        listed = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
        assert keys <= listed
        for key in keys:
            head = s3.head_object(Bucket=bucket, Key=key)
            assert len(head["Metadata"]["sha256"]) == 64


def test_rerun_uploads_nothing_and_builds_nothing(
    roman_data: RomanData, s3_server: S3Endpoint, tmp_path: Path
) -> None:
    out_dir = Path(roman_data.files[0]["path"]).parents[1]
    proc = run_make_data("--endpoint", s3_server.url, "--out", str(out_dir))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("up to date") == 3
    assert proc.stdout.count(": already there") == 3
    assert "done: 0 uploaded, 3 already there" in proc.stdout


def test_after_a_server_restart_it_uploads_again(roman_data: RomanData) -> None:
    """moto forgets everything when it restarts; the local files are reused, not rebuilt."""
    from tests.support.processes import TEST_OUTPUT
    from tests.support.s3 import start_moto

    proc, fresh = start_moto(TEST_OUTPUT / "logs" / "moto-fresh.log")
    try:
        out_dir = Path(roman_data.files[0]["path"]).parents[1]
        again = make_data(fresh, out_dir)
        assert [f["sha256"] for f in again.files] == [f["sha256"] for f in roman_data.files]
    finally:
        proc.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "no S3 endpoint: pass --endpoint URL or set AWS_ENDPOINT_URL"),
        (("--endpoint", "ftp://example"), "--endpoint must be an http(s) URL"),
        (("--endpoint", "http://127.0.0.1:{port}"), "cannot reach the S3 endpoint"),
    ],
)
def test_bad_input_gives_a_clear_error(
    args: tuple[str, ...], message: str, roman_data: RomanData
) -> None:
    out_dir = Path(roman_data.files[0]["path"]).parents[1]
    args = tuple(a.format(port=free_port()) for a in args)
    proc = run_make_data(*args, "--out", str(out_dir))
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_wrong_python_gives_a_clear_error(tmp_path: Path) -> None:
    import sys

    proc = subprocess.run(
        [sys.executable, str(MAKE_DATA), "--no-upload", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Roman Research Nexus kernel's Python" in proc.stderr
    assert "Traceback" not in proc.stderr
