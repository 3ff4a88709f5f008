"""Every tutorial runs top to bottom in its kernel against the local S3, internet cells skipped."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from tests.support.kernels import NOTEBOOKS, RomanData, run_notebook

pytestmark = [pytest.mark.kernels, pytest.mark.integration]

TUTORIALS = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


def test_there_are_three_tutorials() -> None:
    assert TUTORIALS == [
        "calibrate_and_stream.ipynb",  # run by tests/kernels/test_pipeline_offline.py
        "cross_archive_cloud_access.ipynb",
        "data_discovery_and_access.ipynb",
        "working_with_roman_asdf.ipynb",
    ]


@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorial_is_clean_and_tagged(name: str) -> None:
    """Committed without outputs, in a platform kernel, with internet cells tagged."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)  # type: ignore[no-untyped-call]
    nbformat.validate(nb)
    kernel = "roman-calibration" if name == "calibrate_and_stream.ipynb" else "roman-research-nexus"
    assert nb.metadata["kernelspec"]["name"] == kernel
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    network_calls = re.compile(r"astroquery\.\w+ import|TAPService\(|query_criteria|Heasarc\(\)")
    for cell in code:
        if network_calls.search(cell.source) and "import" not in cell.source.split("\n")[0]:
            assert "internet" in cell.metadata.get("tags", []), cell.source[:80]
    # the endpoint comes from the environment, never from the notebook
    assert "127.0.0.1" not in "".join(c.source for c in code)
    assert "endpoint_url=" not in "".join(c.source for c in code)


def test_data_discovery_and_access(roman_data: RomanData, tmp_path: Path) -> None:
    run = run_notebook(
        NOTEBOOKS / "data_discovery_and_access.ipynb", roman_data.endpoint.env(), tmp_path
    )
    text = run.text()
    assert run.skipped, "the MAST cell is tagged internet and skipped offline"
    assert f"S3 endpoint: {roman_data.endpoint.url}" in text
    assert "r0003201001001001004_0001_wfi01_f106_cal.asdf" in text
    assert "model:      ImageModel" in text
    assert "detector:   WFI01" in text
    assert "data shape: (512, 512)" in text
    assert "ramp shape: (6, 512, 512)" in text
    assert "cutout shape: (100, 100)" in text
    assert "filter: F184  SCA: 10  image shape: (512, 512)" in text
    assert "'default_cache_type': 'nexus-readahead'" in text
    assert "downloading" in text and "already here: Roman_TDS_simple_model" in text
    assert run.has_image(), "the cutout is plotted"
    assert (tmp_path / "roman_data_cache" / "Roman_TDS_simple_model_F184_13012_10.fits.gz").exists()


def test_cross_archive_cloud_access(roman_data: RomanData, tmp_path: Path) -> None:
    run = run_notebook(
        NOTEBOOKS / "cross_archive_cloud_access.ipynb", roman_data.endpoint.env(), tmp_path
    )
    text = run.text()
    assert len(run.skipped) == 3
    assert "stpubdata -> ['r0003201001001001004_0001_wfi01_f106_cal.asdf'" in text
    assert "filter: F184  shape: (512, 512)  BUNIT: e-/s" in text
    assert "default block size: 52428800" in text  # s3fs's own: fs.get parts stay large
    assert "['#ASDF 1.0.0', '#ASDF_STANDARD 1.6.0']" in text
    # the HEASARC .Z path runs offline: anonymous read of the ROSAT mirror, decompressed
    assert "telescope: ROSAT  image: (512, 512) int16" in text
    assert re.search(r"\.Z file: [\d,]+ bytes -> 529,920 bytes of FITS", text), text


def test_working_with_roman_asdf(roman_data: RomanData, tmp_path: Path) -> None:
    run = run_notebook(
        NOTEBOOKS / "working_with_roman_asdf.ipynb", roman_data.endpoint.env(), tmp_path
    )
    text = run.text()
    assert "detector:   WFI01" in text
    assert "image shape: (512, 512)" in text
    found = re.search(r"sources found: (\d+)", text)
    assert found and int(found.group(1)) >= 10, text
    flagged = re.search(r"saved: my_flagged_cal.asdf \| flagged pixels: (\d+)", text)
    assert flagged and int(flagged.group(1)) >= 25
    assert "detector from the raw tree: WFI01" in text
    assert (tmp_path / "roman_work" / "my_flagged_cal.asdf").exists()
