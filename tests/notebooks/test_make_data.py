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
CCS = "roman/nexus/soc_simulations/"
TVAC = "roman/nexus/tvac/OTP00651_BrightStar_TV2b_R1_MCEB/"
TVAC_DARKS = ("20240506225304", "20240506225611", "20240506225917")
# Keys STScI's tutorials (spacetelescope/roman_notebooks) and ours read.
EXPECTED_KEYS = {
    "stpubdata": {
        f"{RELEASE}{STEM}_0001_wfi01_f106_uncal.asdf",
        f"{RELEASE}{STEM}_0001_wfi01_f106_cal.asdf",  # working_with_asdf, exposure_pipeline
        f"{RELEASE}{STEM}_0001_wfi02_f106_cal.asdf",  # roman_cutouts
        f"{RELEASE}{STEM}_0001_wfi11_f106_cal.asdf",  # data_discovery_and_access
        f"{RELEASE}{STEM}_0004_wfi11_f106_cal.asdf",  # mosaic_pipeline
        f"{PREVIOUS}{STEM}_0001_wfi01_f106_cal.asdf",  # data_visualization
        # grism_spectral_extraction
        f"{RELEASE}r0007601002004013001_0001_wfi01_f158_cal.asdf",
        f"{RELEASE}r0007601002004013002_0001_wfi01_grism_cal.asdf",
        f"{RELEASE}r0007601002004013001_0001_catalog.fits",
        # ccs_simulations
        f"{CCS}r00340/l2/r0034001002001001025_0001_wfi10_f146_cal.asdf",
        f"{CCS}r00342/l2/r0034201008001002018_0003_wfi01_f129_cal.asdf",
        f"{CCS}r00342/l4/l2_source_catalog/r0034201008001002018_0003_wfi01_f129_cat.parquet",
        f"{CCS}input_catalogs/cat-2896871.fits",
        # wfi_tvac_brightstar
        f"{TVAC}Activity_22/TVAC2_TOHOTQUAL_WFISAT_20240506204523_WFI11_uncal.asdf",
        *(f"{TVAC}Activity_40/TVAC2_TOHOTQUAL_WFISAT_{t}_WFI11_uncal.asdf" for t in TVAC_DARKS),
    },
    "nasa-irsa-simulations": {
        f"{OU}RomanTDS/images/simple_model/F184/13012/Roman_TDS_simple_model_F184_13012_10.fits.gz",
        f"{OU}RomanWAS/images/simple_model/F184/15297/Roman_WAS_simple_model_F184_15297_11.fits.gz",
    },
    "nasa-heasarc": {
        "rosat/data/pspc/processed_data/600000/rp600245n00/rp600245n00_im1.fits.Z",
    },
}
N_BUILT = 23  # distinct files
N_KEYS = 24  # one file is in two release folders

# Run in the kernel: what an anonymous client (a pasted tutorial cell) can read.
ANON_READ = """
import gzip, io, json, os, s3fs, unlzw3
import asdf, pandas as pd
import roman_datamodels as rdm
from astropy.io import fits
from astropy.table import Table
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
# grism_spectral_extraction: two Level 2 models and the catalog's table in HDU 1
with fs.open(release + "r0007601002004013002_0001_wfi01_grism_cal.asdf", "rb") as f:
    dm = rdm.open(f)
    out["grism"] = [type(dm).__name__, dm.meta.instrument.optical_element, dm.meta.exposure.type,
                    list(dm.data.shape), list(dm.err.shape)]
with fs.open(release + "r0007601002004013001_0001_wfi01_f158_cal.asdf", "rb") as f:
    dm = rdm.open(f)
    out["direct"] = [type(dm).__name__, dm.meta.instrument.optical_element, list(dm.data.shape)]
with fits.open(release + "r0007601002004013001_0001_catalog.fits",
               fsspec_kwargs={"anon": True}) as hdul:
    cat = Table(hdul[1].data)
ids = [197462, 197387, 197503, 197594, 19942, 115897, 83060, 59378, 14068, 171608, 35048,
       147993, 197738, 166231]
out["catalog"] = [len(cat[cat["SOURCE_ID"] == i]) for i in ids]
out["catalog_in_frame"] = bool(
    (cat["X_GRISM"] < 512).all() and (cat["Y_IMAGE"] < 512).all() and (cat["A_IMAGE"] > 0).all()
    and (cat["mag_ROMAN_WFI_NIR_F146"] < 18).sum() > 0 and (cat["THETA_GRISM"] == 90).all())
# ccs_simulations: a GBTDS Level 2 file, the HLWAS l2 folder and an L2 catalog in Parquet
ccs = "s3://stpubdata/roman/nexus/soc_simulations/"
with fs.open(ccs + "r00340/l2/r0034001002001001025_0001_wfi10_f146_cal.asdf", "rb") as f:
    dm = rdm.open(f)
    obs = dm.meta.observation
    out["gbtds"] = [type(dm).__name__, dm.meta.instrument.detector, obs["pass"], obs["visit"]]
out["hlwas_l2"] = [p.rsplit("/", 1)[1] for p in fs.glob(ccs + "r00342/l2/*.*")]
cat_key = "r00342/l4/l2_source_catalog/r0034201008001002018_0003_wfi01_f129_cat.parquet"
with fs.open(ccs + cat_key, "rb") as f:
    df = pd.read_parquet(f)
out["parquet"] = sorted({"x_centroid", "y_centroid", "is_extended"} & set(df.columns)) + [
    int(df.is_extended.sum() > 0)]
# the input catalog of the tutorial's cone, named by its HEALPix pixel as the tutorial computes it
from astropy.coordinates import Galactic, SkyCoord
import astropy.units as u
from astropy_healpix import HEALPix
pixels = HEALPix(nside=512, order="nested", frame=Galactic()).cone_search_skycoord(
    SkyCoord(8.272, -43.69, unit="deg"), radius=3.5 * u.arcmin)
with fs.open(f"{ccs}input_catalogs/cat-{pixels[0]}.fits", "rb") as f:
    tab = Table(fits.open(f)[1].data)
out["input_catalog"] = [len(tab) > 0, sorted({"ra", "dec", "type", "F146"} & set(tab.colnames))]
# wfi_tvac_brightstar: asdf.open on the stream, then rdm.open on the AsdfFile
tvac = "s3://stpubdata/roman/nexus/tvac/OTP00651_BrightStar_TV2b_R1_MCEB/"
out["tvac"] = []
for t, act in [("20240506204523", 22), ("20240506225304", 40), ("20240506225611", 40),
               ("20240506225917", 40)]:
    key = f"{tvac}Activity_{act}/TVAC2_TOHOTQUAL_WFISAT_{t}_WFI11_uncal.asdf"
    with fs.open(key, "rb") as fb, asdf.open(fb) as af:
        dm = rdm.open(af).copy()
    out["tvac"].append([type(dm).__name__, dm.meta.instrument.detector, list(dm.data.shape),
                        str(dm.data.dtype), str(dm.data.unit), int(dm.data.value.max() == 65535)])
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
    assert len(out["listed"]) == 12
    assert out["l2"] == ["ImageModel", "WFI11", [512, 512]]
    assert out["ou"] == ["PRIMARY", "SCI", "ERR", "DQ", 512]
    assert out["rosat"] == ["ROSAT", [512, 512], ">i2"]
    assert out["private"] == "refused"
    assert out["grism"] == ["ImageModel", "GRISM", "WFI_SPECTRAL", [512, 512], [512, 512]]
    assert out["direct"] == ["ImageModel", "F158", [512, 512]]
    assert out["catalog"] == [1] * 14  # each SOURCE_ID the tutorial selects, once
    assert out["catalog_in_frame"] is True
    assert out["gbtds"] == ["ImageModel", "WFI10", 2, 25]  # the manifest query's pass and visit
    assert out["hlwas_l2"] == ["r0034201008001002018_0003_wfi01_f129_cal.asdf"]
    assert out["input_catalog"] == [True, ["F146", "dec", "ra", "type"]]
    assert out["parquet"] == ["is_extended", "x_centroid", "y_centroid", 1]
    # only the illuminated ramp (first) reaches saturation
    assert out["tvac"] == [
        ["TvacModel", "WFI11", [6, 512, 512], "uint16", "DN", sat] for sat in (1, 0, 0, 0)
    ]
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
