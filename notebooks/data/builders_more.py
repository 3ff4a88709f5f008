"""Synthetic files for the grism, CCS-simulation and TVAC tutorials (used by make_data.py).

- grism: a direct image, a dispersed (grism) image and the FITS source catalog that ties them,
  with every SOURCE_ID the grism tutorial looks up;
- CCS: a Level 2 source catalog as Parquet (the columns the CCS tutorial plots) and a
  simulation input catalog (FITS);
- TVAC: ground-test Level 1 ramps as roman_datamodels' TvacModel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from builders import N_RESULTANTS, save_l2, seed_of, star_field

# SOURCE_IDs the grism tutorial selects (stars, galaxies, pairs, a star/galaxy blend).
GRISM_STARS = (197387, 197396, 197413, 197418, 197462, 197484, 197503, 197585, 197590, 197592)
GRISM_OTHERS = (197594, 19942, 115897, 83060, 59378, 14068, 171608, 35048, 147993, 197738, 166231)
GRISM_NAMED = (*GRISM_STARS, *GRISM_OTHERS)
GRISM_FILLER = 40  # unnamed sources so the field is not only the named ones


def grism_sources(shape: int) -> dict[str, Any]:
    """The catalog's columns: one row per source, positions inside a `shape` detector."""
    import numpy as np

    rng = np.random.default_rng(76)
    ids = np.array([*GRISM_NAMED, *range(1000, 1000 + GRISM_FILLER)], dtype=np.int64)
    n = len(ids)
    edge = max(16, shape // 8)
    x = rng.uniform(edge, shape - edge, n)
    y = rng.uniform(edge, shape - edge, n)
    star = np.isin(ids, (*GRISM_STARS, 197594, 197738))
    a_image = np.where(star, rng.uniform(1.2, 2.0, n), rng.uniform(2.5, 6.0, n))
    mag = np.where(star, rng.uniform(14.0, 17.5, n), rng.uniform(18.5, 23.0, n))
    # the grism disperses along +y; the trace centre sits a fixed offset from the direct position
    return {
        "SOURCE_ID": ids,
        "X_IMAGE": x,
        "Y_IMAGE": y,
        "A_IMAGE": a_image,
        "X_GRISM": x + 2.0,
        "Y_GRISM": y + 0.1 * shape,
        "THETA_GRISM": np.full(n, 90.0),
        "mag_ROMAN_WFI_NIR_F146": mag,
    }


def grism_direct_image(shape: int) -> Any:
    """Sky + noise + a Gaussian per catalog source at (X_IMAGE, Y_IMAGE)."""
    import numpy as np

    src = grism_sources(shape)
    image = star_field(shape, seed=7601)
    yy, xx = np.mgrid[0:shape, 0:shape]
    for x, y, a, mag in zip(
        src["X_IMAGE"], src["Y_IMAGE"], src["A_IMAGE"], src["mag_ROMAN_WFI_NIR_F146"], strict=True
    ):
        box = (slice(max(0, int(y) - 25), int(y) + 26), slice(max(0, int(x) - 25), int(x) + 26))
        blob = np.exp(-((yy[box] - y) ** 2 + (xx[box] - x) ** 2) / (2 * a**2))
        image[box] += (10 ** (-0.4 * (mag - 25.0)) * blob / blob.sum()).astype(np.float32)
    return image


def grism_dispersed_image(shape: int) -> Any:
    """Sky + noise + a vertical trace per source centred on (X_GRISM, Y_GRISM)."""
    import numpy as np

    src = grism_sources(shape)
    rng = np.random.default_rng(7602)
    image = rng.normal(loc=1.0, scale=0.05, size=(shape, shape)).astype(np.float32)
    length = min(1200, shape // 2)  # the tutorial's trace length, shortened on small detectors
    xx = np.arange(shape, dtype=np.float32)
    for x, y, a, mag in zip(
        src["X_GRISM"], src["Y_GRISM"], src["A_IMAGE"], src["mag_ROMAN_WFI_NIR_F146"], strict=True
    ):
        y0, y1 = max(0, int(y) - length // 2), min(shape, int(y) + length // 2)
        if y0 >= y1:
            continue
        profile = np.exp(-((xx - x) ** 2) / (2 * a**2))
        flux = 10 ** (-0.4 * (mag - 25.0)) / length
        image[y0:y1, :] += (flux * profile / profile.sum()).astype(np.float32)[None, :]
    return image


def build_grism_catalog(path: Path, shape: int) -> None:
    """`…_catalog.fits`: an empty primary HDU and a binary table in HDU 1."""
    from astropy.io import fits
    from astropy.table import Table

    table = fits.table_to_hdu(Table(grism_sources(shape)))
    table.name = "CATALOG"
    primary = fits.PrimaryHDU()
    primary.header["COMMENT"] = "Synthetic grism catalog made by notebooks/data/make_data.py"
    fits.HDUList([primary, table]).writeto(path, overwrite=True)


def build_source_catalog(path: Path, shape: int) -> None:
    """`…_cat.parquet`: a Level 2 source catalog (label, centroids, sky position, fluxes)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed_of(path.name))
    n = 200
    x = rng.uniform(0, shape, n)
    y = rng.uniform(0, shape, n)
    columns = {
        "label": np.arange(1, n + 1, dtype=np.int32),
        "x_centroid": x,
        "y_centroid": y,
        "ra_centroid": 268.5 + (x - shape / 2) * 3.06e-5,
        "dec_centroid": -29.2 + (y - shape / 2) * 3.06e-5,
        "aper_total_flux": rng.lognormal(3.0, 1.0, n),
        "is_extended": rng.random(n) < 0.4,
    }
    pq.write_table(pa.table(columns), path)


def build_input_catalog(path: Path, shape: int) -> None:
    """`cat-<HEALPix id>.fits`: a simulation input catalog (romanisim's columns) in HDU 1.

    Sources sit around the CCS tutorial's cone (RA 8.272, Dec -43.69); `shape` does not apply.
    """
    import numpy as np
    from astropy.io import fits
    from astropy.table import Table

    del shape
    rng = np.random.default_rng(seed_of(path.name))
    n = 100
    galaxy = rng.random(n) < 0.7
    table = Table(
        {
            "ra": 8.272 + rng.uniform(-0.08, 0.08, n),
            "dec": -43.69 + rng.uniform(-0.06, 0.06, n),
            "type": np.where(galaxy, "SER", "PSF"),
            "n": np.where(galaxy, rng.uniform(0.5, 4.0, n), -1.0),
            "half_light_radius": np.where(galaxy, rng.uniform(0.1, 1.5, n), 0.0),
            "pa": rng.uniform(0, 360, n),
            "ba": np.where(galaxy, rng.uniform(0.3, 1.0, n), 1.0),
            **{band: 10 ** rng.uniform(-9, -6, n) for band in ("F087", "F129", "F146", "F158")},
        }
    )
    hdu = fits.table_to_hdu(table)
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)


def build_tvac(path: Path, shape: int) -> None:
    """A TVAC ground-test ramp (`TVAC2_…_WFInn_uncal.asdf`) as a TvacModel in DN."""
    import astropy.units as u
    import numpy as np
    import roman_datamodels.datamodels as rdd

    detector = path.name.split("_")[4]  # TVAC2_TOHOTQUAL_WFISAT_<time>_WFI11_uncal.asdf
    model = rdd.TvacModel.create_fake_data(shape=(N_RESULTANTS, shape, shape))
    model.meta.filename = type(model.meta.filename)(path.name)  # a tagged str in TVAC meta
    model.meta.instrument.detector = detector
    rng = np.random.default_rng(seed_of(path.name))
    bias = rng.normal(10_000.0, 20.0, size=(shape, shape))
    ramp = np.arange(N_RESULTANTS, dtype=np.float64)[:, None, None]
    counts = bias[None] + ramp * 2.0  # dark: a small slope
    if "20240506204523" in path.name:  # the illuminated exposure: a bright star, saturating
        yy, xx = np.mgrid[0:shape, 0:shape]
        star = 40_000.0 * np.exp(-((yy - shape / 2) ** 2 + (xx - shape / 2) ** 2) / 50.0)
        counts = counts + ramp * star[None]
    model.data = u.Quantity(np.clip(counts, 0, 65535).astype(np.uint16), u.DN, dtype=np.uint16)
    model.save(path)


def build_grism_direct(path: Path, shape: int) -> None:
    """The grism field's direct (imaging) exposure, a Level 2 ImageModel."""
    save_l2(path, shape, grism_direct_image(shape))


def build_grism_dispersed(path: Path, shape: int) -> None:
    """The grism exposure as a Level 2 ImageModel with optical element GRISM.

    roman_datamodels 1.0.0 has no spectroscopic Level 2 model, so this is an ImageModel whose
    meta says GRISM / WFI_SPECTRAL; the grism tutorial reads only its `data` and `err`.
    """
    save_l2(path, shape, grism_dispersed_image(shape))
