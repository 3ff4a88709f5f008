"""Issue 16 items 3 and 4: simulate, calibrate, upload and stream back, offline, CRDS read-only.

The tutorial notebooks/calibrate_and_stream.ipynb runs in the Roman Calibration kernel started
from its kernelspec (CRDS_PATH -> the synthetic cache of `make crds-cache`, CRDS_READONLY_CACHE=1)
with HOME in a temporary folder and the session's moto S3 server. The test checks what the
notebook printed, the object on S3, that the cache did not change and that nothing of CRDS was
written under HOME.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.support.kernels import CAL, KERNELSPECS, NOTEBOOKS, run_notebook
from tests.support.s3 import S3Endpoint

pytestmark = [pytest.mark.kernels, pytest.mark.integration]

NOTEBOOK = NOTEBOOKS / "calibrate_and_stream.ipynb"
BUCKET = "test-pipeline-results"
# steps ExposurePipeline must have run on the synthetic cache
COMPLETE = (
    "dq_init",
    "saturation",
    "linearity",
    "ramp_fit",
    "dark",
    "assign_wcs",
    "photom",
    "flat_field",
    "source_catalog",
)
# skipped: no full-detector refpix / dark-decay references (N/A in the cache), no Gaia offline
SKIPPED = ("refpix", "dark_decay", "tweakreg")


def kernel_crds_path() -> Path:
    spec = json.loads((KERNELSPECS / CAL / "kernel.json").read_text())
    assert spec["env"]["CRDS_READONLY_CACHE"] == "1"
    path = Path(spec["env"]["CRDS_PATH"])
    if not (path / "SYNTHETIC.json").exists():
        pytest.fail(f"no synthetic CRDS cache at {path}: run `make crds-cache`")
    return path


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


def test_simulate_calibrate_upload_and_stream(s3_server: S3Endpoint, tmp_path: Path) -> None:
    cache = kernel_crds_path()
    before = snapshot(cache)
    home = tmp_path / "home"
    env = {**s3_server.env(), "NEXUS_RESULTS_BUCKET": BUCKET}
    run = run_notebook(NOTEBOOK, env, home, timeout=900)
    text = run.text()

    # CRDS: the kernelspec's read-only cache, untouched
    assert f"CRDS_PATH           = {cache}" in text
    assert "CRDS_READONLY_CACHE = 1" in text
    assert snapshot(cache) == before

    # simulated L1, calibrated L2, valid, steps recorded
    assert "simulated: WfiScienceRaw resultants x rows x columns = (5, 256, 256)" in text, text
    assert "calibrated: ImageModel (248, 248)" in text
    assert "model: ImageModel | valid" in text
    for step in COMPLETE:
        assert re.search(rf"^  {step} +COMPLETE$", text, re.M), (step, text)
    for step in SKIPPED:
        assert re.search(rf"^  {step} +SKIPPED$", text, re.M), (step, text)
    assert re.search(r"ref flat +crds://roman_wfi_flat_\d+\.asdf", text), text

    # on S3 and back
    key = "calibrated/r0003201001001001004_0001_wfi01_f106_cal.asdf"
    assert f"uploaded: s3://{BUCKET}/{key}" in text
    head = s3_server.client().head_object(Bucket=BUCKET, Key=key)
    assert head["ContentLength"] > 248 * 248 * 4
    assert "streamed: ImageModel (248, 248) | photom: COMPLETE" in text

    # nothing of CRDS in the home: no cache, no config, no file naming it
    written = [str(p.relative_to(home)) for p in home.rglob("*")]
    assert any(w.endswith("_cal.asdf") for w in written)  # the notebook did write its own files
    crds_files = [w for w in written if "crds" in w.lower()]
    assert crds_files == [], crds_files
    assert not os.path.exists(home / "crds_cache")
