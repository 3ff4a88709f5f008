"""Roman Calibration kernel: romancal + romanisim together; CRDS fails with a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.kernels import CAL, execute_in_kernel
from tests.support.processes import free_port

pytestmark = pytest.mark.kernels


def test_pipeline_and_simulator_agree_on_datamodels() -> None:
    code = (
        "import romancal, romanisim, roman_datamodels, crds\n"
        "import roman_datamodels.datamodels as rdd\n"
        "from romancal.dq_init import DQInitStep\n"
        "m = rdd.ScienceRawModel.create_fake_data(shape=(2, 32, 32))\n"
        "print('raw', type(m).__name__, m.data.shape)\n"
    )
    result = execute_in_kernel(CAL, code)
    assert result.error is None, result.traceback
    assert "raw ScienceRawModel (2, 32, 32)" in result.stdout


def test_offline_without_references_gives_a_clear_error(tmp_path: Path) -> None:
    """No CRDS server and an empty cache: a ReferenceFilesUnavailable, not SystemExit."""
    cache = tmp_path / "empty-crds-cache"
    cache.mkdir()
    closed = f"https://127.0.0.1:{free_port()}"
    code = (
        "import os\n"
        f"os.environ['CRDS_PATH'] = {str(cache)!r}\n"
        f"os.environ['CRDS_SERVER_URL'] = {closed!r}\n"
        "import roman_datamodels.datamodels as rdd\n"
        "from romancal.dq_init import DQInitStep\n"
        "m = rdd.ScienceRawModel.create_fake_data(shape=(2, 32, 32))\n"
        "DQInitStep.call(m)\n"
    )
    result = execute_in_kernel(CAL, code)
    assert result.error is not None
    ename, evalue = result.error
    assert ename == "ReferenceFilesUnavailable", (ename, evalue)
    assert str(cache) in evalue
    assert closed in evalue
    assert "crds sync" in evalue


def test_preflight_names_the_problem(tmp_path: Path) -> None:
    closed = f"https://127.0.0.1:{free_port()}"
    code = (
        "import os, nexus_crds\n"
        f"os.environ['CRDS_PATH'] = {str(tmp_path)!r}\n"
        f"os.environ['CRDS_SERVER_URL'] = {closed!r}\n"
        "try:\n"
        "    nexus_crds.preflight()\n"
        "except nexus_crds.ReferenceFilesUnavailable as exc:\n"
        "    print('UNAVAILABLE', str(exc).splitlines()[0])\n"
        "from pathlib import Path\n"
        "config = Path(os.environ['CRDS_PATH']) / 'config' / 'roman'\n"
        "config.mkdir(parents=True)\n"
        "(config / 'server_config').write_text('{}')\n"
        "nexus_crds.preflight()\n"
        "print('cache ok')\n"
    )
    result = execute_in_kernel(CAL, code)
    assert result.error is None, result.traceback
    assert "UNAVAILABLE CRDS reference files are not available" in result.stdout
    assert "cache ok" in result.stdout
