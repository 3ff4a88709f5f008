"""`make data`: synthetic Roman files under the tutorials' keys, rerunnable, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.kernels import (
    MAKE_DATA,
    RRN,
    RomanData,
    make_data,
    require_kernel,
    run_in_kernel_python,
)
from tests.support.processes import free_port
from tests.support.s3 import S3Endpoint

pytestmark = [pytest.mark.kernels, pytest.mark.integration]

RELEASE = "roman/nexus/soc_simulations/tutorial_data/roman-2026.2/"
PREVIOUS = "roman/nexus/soc_simulations/tutorial_data/roman-2026.1/"
STEM = "r0003201001001001004"
OU = "openuniverse2024/roman/preview/"
# Keys STScI's tutorials (spacetelescope/roman_notebooks) and ours read.
EXPECTED_KEYS = {
    "stpubdata": {
        f"{RELEASE}{STEM}_0001_wfi01_f106_uncal.asdf",
        f"{RELEASE}{STEM}_0001_wfi01_f106_cal.asdf",  # working_with_asdf, exposure_pipeline
        f"{RELEASE}{STEM}_0001_wfi02_f106_cal.asdf",  # roman_cutouts
        f"{RELEASE}{STEM}_0001_wfi11_f106_cal.asdf",  # data_discovery_and_access
        f"{RELEASE}{STEM}_0004_wfi11_f106_cal.asdf",  # mosaic_pipeline
        f"{PREVIOUS}{STEM}_0001_wfi01_f106_cal.asdf",  # data_visualization
    },
    "nasa-irsa-simulations": {
        f"{OU}RomanTDS/images/simple_model/F184/13012/Roman_TDS_simple_model_F184_13012_10.fits.gz",
        f"{OU}RomanWAS/images/simple_model/F184/15297/Roman_WAS_simple_model_F184_15297_11.fits.gz",
    },
    "nasa-heasarc": {
        "rosat/data/pspc/processed_data/600000/rp600245n00/rp600245n00_im1.fits.Z",
    },
}
N_BUILT = 12  # distinct files
N_KEYS = 13  # one file is in two release folders

# Run in the kernel: what an anonymous client (a pasted tutorial cell) can read.
ANON_READ = """
import gzip, io, json, os, s3fs, unlzw3
import roman_datamodels as rdm
from astropy.io import fits
fs = s3fs.S3FileSystem(anon=True)
out = {}
release = "s3://stpubdata/roman/nexus/soc_simulations/tutorial_data/roman-2026.2/"
out["listed"] = sorted(p.rsplit("/", 1)[1] for p in fs.ls(release))
with fs.open(release + "r0003201001001001004_0001_wfi11_f106_cal.asdf", "rb") as f:
    dm = rdm.open(f)
    out["l2"] = [type(dm).__name__, dm.meta.instrument.detector, list(dm.data.shape)]
ou = ("s3://nasa-irsa-simulations/openuniverse2024/roman/preview/RomanWAS/images/simple_model"
      "/F184/15297/Roman_WAS_simple_model_F184_15297_11.fits.gz")
with fits.open(ou, fsspec_kwargs={"anon": True}) as hdul:
    out["ou"] = [h.name for h in hdul] + [hdul["SCI"].data.shape[0]]
z = "nasa-heasarc/rosat/data/pspc/processed_data/600000/rp600245n00/rp600245n00_im1.fits.Z"
with fs.open(z, "rb") as f, fits.open(io.BytesIO(unlzw3.unlzw(f.read()))) as hdul:
    out["rosat"] = [hdul[0].header["TELESCOP"], list(hdul[0].data.shape), str(hdul[0].data.dtype)]
try:
    fs.cat(f"{os.environ['PRIVATE']}/secret.txt")
    out["private"] = "read"
except PermissionError:
    out["private"] = "refused"
print("RESULT " + json.dumps(out))
"""


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


def test_public_buckets_read_anonymously_private_bucket_does_not(roman_data: RomanData) -> None:
    """A tutorial cell with s3fs anon=True reads the public buckets, as on AWS; not ours."""
    s3 = roman_data.endpoint.client()
    private = "nexus-test-private"
    s3.create_bucket(Bucket=private)
    s3.put_object(Bucket=private, Key="secret.txt", Body=b"secret")
    env = {**roman_data.endpoint.env(), "PRIVATE": private}
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env[key] = ""  # no credentials anywhere: anonymous in earnest
    proc = run_in_kernel_python(RRN, ANON_READ, env=env)
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    out = json.loads(line.removeprefix("RESULT "))
    assert f"{STEM}_0004_wfi11_f106_cal.asdf" in out["listed"]
    assert len(out["listed"]) == 9
    assert out["l2"] == ["ImageModel", "WFI11", [512, 512]]
    assert out["ou"] == ["PRIMARY", "SCI", "ERR", "DQ", 512]
    assert out["rosat"] == ["ROSAT", [512, 512], ">i2"]
    assert out["private"] == "refused"
    for bucket in EXPECTED_KEYS:
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        actions = {st["Action"] for st in policy["Statement"] if st["Principal"] == "*"}
        assert actions == {"s3:GetObject", "s3:ListBucket"}


def test_rerun_uploads_nothing_and_builds_nothing(
    roman_data: RomanData, s3_server: S3Endpoint, tmp_path: Path
) -> None:
    out_dir = Path(roman_data.files[0]["path"]).parents[1]
    proc = run_make_data("--endpoint", s3_server.url, "--out", str(out_dir))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("up to date") == N_BUILT
    assert proc.stdout.count(": already there") == N_KEYS
    assert f"done: 0 uploaded, {N_KEYS} already there" in proc.stdout


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
