"""Each kernel holds what it promises, from a consistent hash lock, behind its kernelspec."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.support.kernels import (
    CAL,
    KERNEL_VENVS,
    RRN,
    execute_in_kernel,
    jupyter_env,
    kernel_python,
)
from tests.support.processes import REPO_ROOT

KERNELS_DIR = REPO_ROOT / "kernels"

# What the issue promises each kernel holds: distribution name -> import name.
PROMISED = {
    RRN: {
        "roman_datamodels": "roman_datamodels",
        "rad": "rad",
        "asdf": "asdf",
        "astropy": "astropy",
        "astroquery": "astroquery",
        "pyvo": "pyvo",
        "s3fs": "s3fs",
        "fsspec": "fsspec",
        "boto3": "boto3",
        "jdaviz": "jdaviz",
        "matplotlib": "matplotlib",
        "aplpy": "aplpy",
        "unlzw3": "unlzw3",
        "numpy": "numpy",
        "scipy": "scipy",
        "photutils": "photutils",
        "specutils": "specutils",
        "ipykernel": "ipykernel",
        "ipywidgets": "ipywidgets",
        "bokeh": "bokeh",
        "skyproj": "skyproj",
        "astrocut": "astrocut",
        "stpsf": "stpsf",
        "galsim": "galsim",
        "pandas": "pandas",
        "healpy": "healpy",
        "synphot": "synphot",
        "stsynphot": "stsynphot",
        "pysiaf": "pysiaf",
        "pandeia.engine": "pandeia.engine",
        "dask": "dask",
        "xarray": "xarray",
        "ipympl": "ipympl",
        "sncosmo": "sncosmo",
        "healsparse": "healsparse",
    },
    CAL: {
        "romancal": "romancal",
        "romanisim": "romanisim",
        "roman_datamodels": "roman_datamodels",
        "crds": "crds",
        "asdf": "asdf",
        "s3fs": "s3fs",
        "matplotlib": "matplotlib",
        "ipykernel": "ipykernel",
    },
}
DISPLAY_NAMES = {RRN: "Roman Research Nexus", CAL: "Roman Calibration"}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(path: str) -> set[str]:
    names = set()
    for line in (KERNELS_DIR / path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(normalize(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0]))
    return names


def locked(path: str) -> dict[str, str]:
    pins = {}
    for line in (KERNELS_DIR / path).read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^ ;\\]+)", line)
        if m:
            pins[normalize(m.group(1))] = m.group(2)
    return pins


@pytest.mark.parametrize("kernel", [RRN, CAL])
def test_requirements_in_lists_the_promised_packages(kernel: str) -> None:
    wanted = {normalize(d) for d in PROMISED[kernel]}
    assert wanted <= requirement_names(f"{kernel}/requirements.in")


@pytest.mark.parametrize("kernel", [RRN, CAL, "lab-server"])
def test_lock_is_complete_and_hashed(kernel: str) -> None:
    text = (KERNELS_DIR / kernel / "requirements.txt").read_text()
    pins = locked(f"{kernel}/requirements.txt")
    assert pins, "no pins"
    # every requirement line is an exact pin followed by at least one sha256 hash
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    for block in blocks:
        first = block.splitlines()[0]
        assert "==" in first, first
        assert "--hash=sha256:" in block, first
    # what the .in asks for is in the lock
    assert requirement_names(f"{kernel}/requirements.in") <= set(pins)


def test_one_version_of_every_shared_package() -> None:
    """Both kernels hold the same Roman stack, within what STScI's tutorials pin."""
    rrn, cal = locked(f"{RRN}/requirements.txt"), locked(f"{CAL}/requirements.txt")
    differ = {n: (rrn[n], cal[n]) for n in set(rrn) & set(cal) if rrn[n] != cal[n]}
    assert not differ, differ
    from packaging.specifiers import SpecifierSet

    tutorial_pins = {"roman-datamodels": ">=1.0,<1.1", "rad": ">=1.0,<1.1", "asdf": ">=5.3,<6"}
    for name, spec in tutorial_pins.items():
        assert rrn[name] in SpecifierSet(spec), (name, rrn[name])
        assert cal[name] == rrn[name]


@pytest.mark.kernels
def test_s3_stack_pinned_together() -> None:
    """s3fs, aiobotocore, botocore and boto3 agree (no fallback to an ancient s3fs)."""
    for kernel in (RRN, CAL):
        pins = locked(f"{kernel}/requirements.txt")
        assert int(pins["s3fs"].split(".")[0]) >= 2025, pins["s3fs"]
        assert pins["s3fs"] == pins["fsspec"], "s3fs pins its fsspec release exactly"
        code = (
            "import importlib.metadata as md, json\n"
            "from packaging.requirements import Requirement\n"
            "out = {}\n"
            "for dist, dep in [('s3fs','aiobotocore'),('aiobotocore','botocore'),"
            "('boto3','botocore'),('s3fs','fsspec')]:\n"
            "    try:\n"
            "        reqs = [Requirement(r) for r in md.requires(dist) or []]\n"
            "    except md.PackageNotFoundError:\n"
            "        continue\n"
            "    spec = [str(r.specifier) for r in reqs if r.name == dep and not r.marker]\n"
            "    out[dist + '->' + dep] = [spec[0], md.version(dep)]\n"
            "print(json.dumps(out))\n"
        )
        proc = subprocess.run(
            [str(kernel_python(kernel)), "-c", code], capture_output=True, text=True, check=True
        )
        from packaging.specifiers import SpecifierSet

        for edge, (spec, version) in json.loads(proc.stdout).items():
            assert version in SpecifierSet(spec), f"{kernel}: {edge} wants {spec}, has {version}"


@pytest.mark.kernels
@pytest.mark.parametrize("kernel", [RRN, CAL])
def test_installed_env_is_consistent(kernel: str) -> None:
    uv = REPO_ROOT / ".venv" / "bin" / "uv"
    proc = subprocess.run(
        [str(uv), "pip", "check", "--python", str(kernel_python(kernel))],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.kernels
@pytest.mark.parametrize("kernel", [RRN, CAL])
def test_kernelspec_is_found_with_its_display_name(kernel: str) -> None:
    proc = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "jupyter"), "kernelspec", "list", "--json"],
        env=jupyter_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    specs = json.loads(proc.stdout)["kernelspecs"]
    spec = specs[kernel]["spec"]
    assert spec["display_name"] == DISPLAY_NAMES[kernel]
    assert spec["argv"][0] == str(KERNEL_VENVS / kernel / "bin" / "python")
    assert spec["env"]["FSSPEC_CONFIG_DIR"] == str(KERNEL_VENVS / kernel / "etc" / "fsspec")
    if kernel == CAL:
        assert spec["env"]["CRDS_PATH"]


@pytest.mark.kernels
@pytest.mark.parametrize("kernel", [RRN, CAL])
def test_kernel_imports_everything_it_promises(kernel: str) -> None:
    modules = sorted(PROMISED[kernel].values())
    code = (
        "import importlib, os, fsspec.config\n"
        f"mods = {modules!r}\n"
        "for m in mods:\n"
        "    importlib.import_module(m)\n"
        "print('imported', len(mods))\n"
        "print('cache', fsspec.config.conf['s3']['default_cache_type'])\n"
        "print('crds_path', os.environ.get('CRDS_PATH', '-'))\n"
    )
    result = execute_in_kernel(kernel, code, timeout=600)
    assert result.error is None, result.traceback
    assert f"imported {len(modules)}" in result.stdout
    assert "cache nexus-readahead" in result.stdout
    if kernel == CAL:
        assert "crds_path -" not in result.stdout
