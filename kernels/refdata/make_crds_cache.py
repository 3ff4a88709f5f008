"""Build a small synthetic CRDS cache for Roman WFI, laid out as CRDS itself lays one out.

    python make_crds_cache.py OUT [--size N] [--detectors WFI01 WFI02 ...]

Production reads a read-only cache synced from the CRDS server (helm chart, crds-cache CronJob).
Offline (make dev, make test) the Calibration kernel points CRDS_PATH at this tree instead:

    OUT/config/roman/server_config            what `crds sync` caches from the server
    OUT/config/roman/ref_cache_subdir_mode    "flat": references/roman/<file>
    OUT/mappings/roman/roman_0001.pmap        -> roman_wfi_0001.imap -> roman_wfi_<type>_0001.rmap
    OUT/references/roman/roman_wfi_<type>_0001.asdf

Each reference is a roman_datamodels reference model (`create_fake_data`) with plain values (gain
2 e/DN, read noise 5 DN, identity linearity, unit flat...) for a detector of N x N science pixels
(N + 8 with the reference-pixel border), so CRDS selects it by detector, exposure type, optical
element and date exactly as it selects real files. The synthetic numbers calibrate nothing real.
Types the pipeline cannot use on a small detector are "N/A" in the instrument mapping, which is
how CRDS says "this type does not apply" (the step records SKIPPED).

Run with the Roman Calibration kernel's Python (roman_datamodels, crds, astropy).
"""

from __future__ import annotations

import argparse
import ast
import json
import pprint
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from crds.core import utils as crds_utils
from crds_references import BUILDERS, FILTERS, SYNTHETIC, USEAFTER

CONTEXT = "roman_0001.pmap"
IMAP = "roman_wfi_0001.imap"
IMAGE_EXPOSURES = ("WFI_IMAGE",)
DEFAULT_SIZE = 248  # science pixels per side: 256 with the border
DEFAULT_DETECTORS = ("WFI01",)
# Tied to a full 4096-pixel detector: refpix (FFT coefficients per amplifier channel, 32 x 286721
# complex) and darkdecaysignal (the decay follows each pixel's read time across the full frame).
# "N/A" makes romancal skip those steps and record SKIPPED in meta.cal_step; romanisim must be
# told not to model dark decay (reference_data["darkdecaysignal"] = "none").
# dustmap (an all-sky extinction map the source catalog reads) is not synthesised: N/A too, and
# the catalog's dust_ebv column stays NaN.
NOT_APPLICABLE = ("refpix", "darkdecaysignal", "dustmap")


def _pars_types() -> tuple[str, ...]:
    import crds.roman

    specs = Path(crds.roman.__file__).parent / "specs"
    return tuple(sorted(p.stem.removeprefix("wfi_") for p in specs.glob("wfi_pars-*.rmap")))


PARS_TYPES = _pars_types()


def _spec_header(reftype: str) -> dict[str, Any]:
    """The empty rmap CRDS ships for `reftype` (crds/roman/specs): its header, parkeys included."""
    import crds.roman

    text = (Path(crds.roman.__file__).parent / "specs" / f"wfi_{reftype}.rmap").read_text()
    found = re.search(r"^header\s*=\s*(\{.*?^\})", text, re.S | re.M)  # Python literals
    assert found, f"no header in CRDS's spec for {reftype}"
    return dict(ast.literal_eval(found.group(1)))


def _match_key(parkeys: Iterable[str], detector: str, optical_element: str | None) -> tuple:
    values = {
        # romanisim asks for its ePSF by galsim's name for the detector (SCA01)
        "ROMAN.META.INSTRUMENT.DETECTOR": f"{detector}|SCA{detector[3:]}",
        "ROMAN.META.EXPOSURE.TYPE": "|".join(IMAGE_EXPOSURES),
        "ROMAN.META.INSTRUMENT.OPTICAL_ELEMENT": optical_element or "*",
    }
    return tuple(values.get(k, "*") for k in parkeys)


def _mapping_text(header: dict[str, Any], selector: str) -> str:
    header = {**header, "sha1sum": ""}
    lines = ["header = {"]
    lines += [f"    {k!r} : {v!r}," for k, v in sorted(header.items())]
    lines += ["}", "", f"selector = {selector}", ""]
    text = "\n".join(lines)
    # CRDS checks each mapping's sha1sum over its text minus the sha1sum line
    checksum = crds_utils.str_checksum(
        "".join(line for line in text.splitlines(True) if "sha1sum" not in line)
    )
    return text.replace("'sha1sum' : '',", f"'sha1sum' : {checksum!r},")


def write_rmap(out: Path, reftype: str, spec: dict[str, Any], files: dict[tuple, str]) -> str:
    name = f"roman_wfi_{reftype}_0001.rmap"
    header = {**spec, "name": name, "derived_from": SYNTHETIC}
    # Match on parkey[0] (an empty key when the type has none), UseAfter on the date
    rows = [
        f"    {key!r} : UseAfter({{\n        {USEAFTER!r} : {ref!r},\n    }}),"
        for key, ref in sorted(files.items())
    ]
    selector = "Match({\n" + "\n".join(rows) + "\n})"
    (out / name).write_text(_mapping_text(header, selector))
    return name


def write_context(mappings: Path, rmaps: dict[str, str]) -> None:
    imap_header = {
        "derived_from": SYNTHETIC,
        "file_ext": ".asdf",
        "instrument": "WFI",
        "mapping": "INSTRUMENT",
        "name": IMAP,
        "observatory": "ROMAN",
        "parkey": ("REFTYPE",),
    }
    # step-parameter types (pars-<step>) are N/A too: stpipe asks for one before each step and,
    # told N/A, runs the step with its own defaults
    kinds = sorted({*rmaps, *NOT_APPLICABLE, *PARS_TYPES})
    rows = [f"    {t!r} : {rmaps.get(t, 'N/A')!r}," for t in kinds]
    (mappings / IMAP).write_text(_mapping_text(imap_header, "{\n" + "\n".join(rows) + "\n}"))
    pmap_header = {
        "derived_from": SYNTHETIC,
        "mapping": "PIPELINE",
        "name": CONTEXT,
        "observatory": "ROMAN",
        "parkey": ("ROMAN.META.INSTRUMENT.NAME",),
    }
    (mappings / CONTEXT).write_text(_mapping_text(pmap_header, f"{{\n    'WFI' : {IMAP!r},\n}}"))


def server_config(files: list[str]) -> dict[str, Any]:
    """What CRDS caches from the server's info call; read when the server cannot be reached."""
    return {
        "observatory": "roman",
        "operational_context": CONTEXT,
        "latest_context": CONTEXT,
        "edit_context": CONTEXT,
        "versions_context": CONTEXT,
        "bad_files": "",
        "bad_files_list": [],
        "force_remote_mode": False,
        "crds_version": {"str": "synthetic"},
        "last_synced": "synthetic",
        "server": "none (synthetic offline cache)",
        "reference_url": "",
        "mapping_url": "",
        "synthetic_files": sorted(files),
    }


def build(out: Path, size: int, detectors: Iterable[str]) -> dict[str, Any]:
    mappings = out / "mappings" / "roman"
    references = out / "references" / "roman"
    config = out / "config" / "roman"
    for d in (mappings, references, config):
        d.mkdir(parents=True, exist_ok=True)
    rmaps: dict[str, str] = {}
    written: list[str] = []
    for reftype, (builder, per_filter) in BUILDERS.items():
        header = _spec_header(reftype)
        parkeys = header["parkey"][0]
        files: dict[tuple, str] = {}
        serial = 1
        dets = list(detectors) if parkeys else [next(iter(detectors))]
        for det in dets:
            for element in FILTERS if per_filter else (None,):
                name = f"roman_wfi_{reftype}_{serial:04d}.asdf"
                serial += 1
                model = builder(size, det, element) if per_filter else builder(size, det)
                model.save(references / name)
                files[_match_key(parkeys, det, element)] = name
                written.append(name)
        rmaps[reftype] = write_rmap(mappings, reftype, header, files)
    write_context(mappings, rmaps)
    (config / "server_config").write_text(pprint.pformat(server_config(written)) + "\n")
    (config / "ref_cache_subdir_mode").write_text("flat\n")
    summary = {
        "context": CONTEXT,
        "size": size,
        "detectors": list(detectors),
        "references": len(written),
        "not_applicable": list(NOT_APPLICABLE),
    }
    (out / "SYNTHETIC.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the cache root (CRDS_PATH)")
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="science pixels per side")
    parser.add_argument("--detectors", nargs="+", default=list(DEFAULT_DETECTORS))
    args = parser.parse_args(argv)
    # rebuilt whole: a stale mapping next to new references would select the wrong files
    for sub in ("mappings", "references", "config"):
        shutil.rmtree(args.out / sub, ignore_errors=True)
    print(json.dumps(build(args.out, args.size, args.detectors)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
