"""Build a small synthetic reference-data tree for the packages that read data at import.

    python make_refdata.py OUT

pandeia.engine reads a Vega spectrum when it is imported, and stpsf, synphot/stsynphot, stips and
pandeia look for their data under environment variables (STPSF_PATH, PYSYN_CDBS, stips_data,
pandeia_refdata, PSF_DIR). The real trees are gigabytes downloaded from web hosts; offline (make
dev, make test) the kernelspecs point those variables at this tree instead: the same folder names
STScI's tutorials install into, version files saying "synthetic", and a blackbody standing in for
Vega. Imports work; calculations that need real throughputs or PSFs do not, and say so.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from astropy.io import fits

# Folder names as in STScI's refdata_dependencies.yaml (install_path + data_path).
LAYOUT = {
    "pandeia_refdata": "pandeia_data-2026.1-roman",
    "PSF_DIR": "pandeia_psfs-2026.1-roman",
    "STPSF_PATH": "stpsf-data",
    "stips_data": "stips_data",
    "PYSYN_CDBS": "grp/redcat/trds",
}
VERSION_FILES = {
    "pandeia_refdata": "VERSION_DATA",
    "PSF_DIR": "VERSION_PSF",
    "STPSF_PATH": "version.txt",
    "stips_data": "VERSION.txt",
    "PYSYN_CDBS": "pyetc_cdbs_version",
}
VEGA_FILE = "alpha_lyr_stis_010.fits"  # the name pandeia.engine.constants.VEGA_FILE opens


def planck_flam(wave_angstrom: np.ndarray, temperature: float) -> np.ndarray:
    """Blackbody in erg/s/cm^2/A, scaled so 5556 A is near Vega's 3.44e-9."""
    h, c, k = 6.62607015e-27, 2.99792458e10, 1.380649e-16
    wave_cm = wave_angstrom * 1e-8
    b = 2 * h * c**2 / wave_cm**5 / np.expm1(h * c / (wave_cm * k * temperature))
    ref = 2 * h * c**2 / 5556e-8**5 / np.expm1(h * c / (5556e-8 * k * temperature))
    return b / ref * 3.44e-9


def write_vega(path: Path) -> None:
    wave = np.geomspace(900.0, 300000.0, 2000)
    cols = [
        fits.Column(name="WAVELENGTH", format="D", unit="ANGSTROMS", array=wave),
        fits.Column(name="FLUX", format="E", unit="FLAM", array=planck_flam(wave, 9600.0)),
    ]
    table = fits.BinTableHDU.from_columns(cols)
    table.header["TUNIT1"] = "ANGSTROMS"
    table.header["TUNIT2"] = "FLAM"
    primary = fits.PrimaryHDU()
    primary.header["COMMENT"] = "Synthetic 9600 K blackbody standing in for Vega (offline tests)"
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList([primary, table]).writeto(path, overwrite=True)


def main(out: Path) -> None:
    for var, folder in LAYOUT.items():
        d = out / folder
        d.mkdir(parents=True, exist_ok=True)
        (d / VERSION_FILES[var]).write_text("synthetic (Roman Research Nexus offline data)\n")
    write_vega(out / LAYOUT["pandeia_refdata"] / "sed" / "hst_calspec" / VEGA_FILE)
    print(f"synthetic reference data in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
