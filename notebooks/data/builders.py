"""Synthetic files of the kinds the public Roman tutorials read (used by make_data.py).

Each builder writes one file at `path` for a detector `shape` (512 by default, 4088 full size):
Level 1 and Level 2 WFI ASDF files made with roman_datamodels, OpenUniverse-style `.fits.gz`
images, and a ROSAT PSPC-style image compressed with Unix `compress` (`.fits.Z`), as HEASARC
keeps them. Output is deterministic for a given name and shape.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from typing import Any

from lzw import compress

N_RESULTANTS = 6


def star_field(shape: int, seed: int) -> Any:
    """A float32 image: sky + read noise + Gaussian point sources (deterministic for a seed)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    image = rng.normal(loc=1.0, scale=0.05, size=(shape, shape)).astype(np.float32)
    n_stars = max(20, shape * shape // 8000)
    ys = rng.uniform(8, shape - 8, n_stars)
    xs = rng.uniform(8, shape - 8, n_stars)
    fluxes = rng.uniform(5.0, 200.0, n_stars).astype(np.float32)
    sigma = 1.2
    yy, xx = np.mgrid[-7:8, -7:8].astype(np.float32)
    for y, x, flux in zip(ys, xs, fluxes, strict=True):
        iy, ix = int(y), int(x)
        dy, dx = y - iy, x - ix
        psf = np.exp(-((yy - dy) ** 2 + (xx - dx) ** 2) / (2 * sigma**2))
        image[iy - 7 : iy + 8, ix - 7 : ix + 8] += flux * psf / psf.sum()
    return image


def wfi_meta(filename: str, detector: str, optical_element: str, exposure: int) -> dict[str, Any]:
    """Metadata matching a name like r0003201001001001004_0002_wfi11_f106_cal.asdf."""
    spectral, imaging, spectral_elements = "WFI_SPECTRAL", "WFI_IMAGE", ("GRISM", "PRISM")
    return {
        "meta": {
            "filename": filename,
            "instrument": {"name": "WFI", "detector": detector, "optical_element": optical_element},
            "observation": {**observation_of(filename), "exposure": exposure},
            "exposure": {"type": spectral if optical_element in spectral_elements else imaging},
        }
    }


def observation_of(filename: str) -> dict[str, int]:
    """Program, plan, pass, segment, observation, visit from r<5><2><3><3><3><3>_…; the
    visit file group and sequence are not in the name (1)."""
    digits = filename[1:20]
    if not digits.isdigit():  # a name without an observation id
        digits = "0003201001001001004"
    cuts = {"program": (0, 5), "execution_plan": (5, 7), "pass": (7, 10), "segment": (10, 13)}
    cuts |= {"observation": (13, 16), "visit": (16, 19)}
    ids = {k: int(digits[a:b]) for k, (a, b) in cuts.items()}
    return {**ids, "visit_file_group": 1, "visit_file_sequence": 1}


def parse_wfi_name(name: str) -> tuple[str, str, int]:
    """(detector, optical element, exposure) from an exposure file name."""
    parts = name.split("_")
    return parts[2].upper(), parts[3].upper(), int(parts[1])


def seed_of(name: str) -> int:
    return sum(name.encode()) % 10_000


def build_l1(path: Path, shape: int) -> None:
    import numpy as np
    import roman_datamodels.datamodels as rdd

    detector, element, exposure = parse_wfi_name(path.name)
    model = rdd.ScienceRawModel.create_fake_data(
        defaults=wfi_meta(path.name, detector, element, exposure),
        shape=(N_RESULTANTS, shape, shape),
    )
    sky = star_field(shape, seed=1)
    ramp = np.linspace(1.0, float(N_RESULTANTS), N_RESULTANTS, dtype=np.float32)[:, None, None]
    counts = 1000.0 + 500.0 * ramp * sky[None, :, :]
    model.data = np.clip(counts, 0, 65535).astype(np.uint16)
    model.save(path)


def build_l2(path: Path, shape: int) -> None:
    # the first exposure keeps the seeds the tutorials' checks were written against
    first = path.name.startswith("r0003201001001001004_0001_wfi01_")
    save_l2(path, shape, star_field(shape, seed=2 if first else seed_of(path.name)), first)


def save_l2(path: Path, shape: int, data: Any, first: bool = False) -> None:
    """An ImageModel with `data` as its science array; err, variances, dq derived from it."""
    import numpy as np
    import roman_datamodels.datamodels as rdd

    detector, element, exposure = parse_wfi_name(path.name)
    model = rdd.ImageModel.create_fake_data(
        defaults=wfi_meta(path.name, detector, element, exposure), shape=(shape, shape)
    )
    rng = np.random.default_rng(2 if first else seed_of(path.name) + 1)
    model.data = data
    model.err = np.sqrt(np.abs(data) * 0.01 + 0.0025).astype(np.float16)
    model.var_poisson = (np.abs(data) * 0.01).astype(np.float16)
    model.chisq = rng.chisquare(4, size=(shape, shape)).astype(np.float16)
    model.dq = np.zeros((shape, shape), dtype=np.uint32)
    model.save(path)


def build_openuniverse(path: Path, shape: int) -> None:
    """Roman_{TDS,WAS}_simple_model_{band}_{pointing}_{sca}.fits.gz: primary + SCI/ERR/DQ."""
    import numpy as np
    from astropy.io import fits

    _, survey, _, _, band, pointing, sca = path.name.removesuffix(".fits.gz").split("_")
    data = star_field(shape, seed=3 if survey == "TDS" else seed_of(path.name))
    primary = fits.PrimaryHDU()
    hdr = primary.header
    hdr["TELESCOP"] = "ROMAN"
    hdr["INSTRUME"] = "WFI"
    hdr["FILTER"] = band
    hdr["SCA_NUM"] = int(sca)
    hdr["POINTING"] = int(pointing)
    hdr["MJD-OBS"] = 62000.5
    hdr["EXPTIME"] = 139.8
    hdr["COMMENT"] = "Synthetic OpenUniverse-style image made by notebooks/data/make_data.py"
    wcs_cards = {
        "CTYPE1": "RA---TAN",
        "CTYPE2": "DEC--TAN",
        "CRPIX1": shape / 2 + 0.5,
        "CRPIX2": shape / 2 + 0.5,
        "CRVAL1": 9.5,
        "CRVAL2": -44.0,
        "CD1_1": -3.06e-5,
        "CD1_2": 0.0,
        "CD2_1": 0.0,
        "CD2_2": 3.06e-5,
    }
    sci = fits.ImageHDU(data=data, name="SCI")
    sci.header.update(wcs_cards)
    sci.header["BUNIT"] = "e-/s"
    err = fits.ImageHDU(data=np.sqrt(np.abs(data) * 0.01 + 0.0025).astype(np.float32), name="ERR")
    err.header.update(wcs_cards)
    dq = fits.ImageHDU(data=np.zeros((shape, shape), dtype=np.uint32), name="DQ")
    raw = path.with_suffix("")  # .fits
    fits.HDUList([primary, sci, err, dq]).writeto(raw, overwrite=True)
    with raw.open("rb") as src, gzip.GzipFile(path, "wb", mtime=0) as dst:
        shutil.copyfileobj(src, dst)
    raw.unlink()


def build_rosat_image(path: Path, shape: int) -> None:
    """A ROSAT PSPC-style `_im1.fits.Z`: one int16 counts image in the primary HDU, TAN WCS.

    The size is fixed (512 x 512, as PSPC images are); `shape` does not apply.
    """
    import numpy as np
    from astropy.io import fits

    del shape
    size = 512
    rng = np.random.default_rng(seed_of(path.name))
    counts = rng.poisson(0.2, size=(size, size)).astype(np.int16)
    yy, xx = np.mgrid[0:size, 0:size]
    for y, x, peak in rng.uniform((40, 40, 20), (size - 40, size - 40, 300), size=(25, 3)):
        blob = peak * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 3.0**2))
        counts += rng.poisson(blob).astype(np.int16)
    hdu = fits.PrimaryHDU(data=counts)
    hdr = hdu.header
    hdr["TELESCOP"] = "ROSAT"
    hdr["INSTRUME"] = "PSPCB"
    hdr["OBJECT"] = "M31"
    hdr["BUNIT"] = "COUNTS"
    hdr["EXPTIME"] = 25000.0
    hdr.update(
        {
            "CTYPE1": "RA---TAN",
            "CTYPE2": "DEC--TAN",
            "CRPIX1": size / 2 + 0.5,
            "CRPIX2": size / 2 + 0.5,
            "CRVAL1": 10.6847,
            "CRVAL2": 41.2690,
            "CDELT1": -4.1667e-3,
            "CDELT2": 4.1667e-3,
        }
    )
    hdr["COMMENT"] = "Synthetic ROSAT-style image made by notebooks/data/make_data.py"
    raw = path.with_suffix("")  # .fits
    hdu.writeto(raw, overwrite=True)
    path.write_bytes(compress(raw.read_bytes()))
    raw.unlink()
