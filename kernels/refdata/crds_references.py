"""The synthetic Roman WFI reference files of the offline CRDS cache (make_crds_cache.py).

Each is a roman_datamodels reference model (`create_fake_data`) with plain, round values, for a
detector of n x n science pixels (n + 8 with the reference-pixel border). Nothing here is real
calibration data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import roman_datamodels.datamodels as rdd
from astropy.modeling import models
from astropy.time import Time

USEAFTER = "2020-01-01 00:00:00"
NBORDER = 4  # reference pixels on each edge of a WFI detector
FILTERS = ("F062", "F087", "F106", "F129", "F146", "F158", "F184", "F213")
SYNTHETIC = "synthetic reference for the offline Roman Research Nexus (not for science)"

# Values a romanisim-like detector has; kept round so tests can reason about them.
GAIN = 2.0  # electron / DN
READ_NOISE = 5.0  # DN
SATURATION = 55000.0  # DN
DARK_RATE = 0.005  # DN / s
PHOTMJSR = 0.3  # (MJy/sr) / (DN/s)
PIXEL_AREA_SR = 2.8e-13


def _meta(model: Any, detector: str, description: str) -> Any:
    model.meta.instrument.detector = detector
    model.meta.useafter = Time(USEAFTER.replace(" ", "T"), format="isot", scale="utc")
    model.meta.pedigree = "DUMMY"
    model.meta.author = "make_crds_cache.py"
    model.meta.origin = "Roman Research Nexus"
    model.meta.description = f"{description}; {SYNTHETIC}"
    return model


def _full(shape: tuple[int, ...], value: float, dtype: Any = np.float32) -> np.ndarray:
    return np.full(shape, value, dtype=dtype)


def mask(n: int, det: str) -> Any:
    m = rdd.MaskRefModel.create_fake_data(shape=(n + 2 * NBORDER,) * 2)
    m.dq = np.zeros((n + 2 * NBORDER,) * 2, dtype=np.uint32)
    # the border is reference pixels, as on a real detector
    m.dq[:NBORDER, :] = m.dq[-NBORDER:, :] = m.dq[:, :NBORDER] = m.dq[:, -NBORDER:] = 2**31
    return _meta(m, det, "bad pixel mask, reference pixels flagged")


def saturation(n: int, det: str) -> Any:
    shape = (n + 2 * NBORDER,) * 2
    m = rdd.SaturationRefModel.create_fake_data(shape=shape)
    m.data, m.dq = _full(shape, SATURATION), np.zeros(shape, dtype=np.uint32)
    return _meta(m, det, f"saturation {SATURATION:.0f} DN")


def _polynomial(model_cls: Any, n: int, det: str, what: str) -> Any:
    shape = (n + 2 * NBORDER,) * 2
    m = model_cls.create_fake_data(shape=(2, *shape))
    coeffs = np.zeros((2, *shape), dtype=np.float32)
    coeffs[1] = 1.0  # identity: x -> 0 + 1 x
    m.coeffs, m.dq = coeffs, np.zeros(shape, dtype=np.uint32)
    return _meta(m, det, f"{what}, identity polynomial")


def linearity(n: int, det: str) -> Any:
    return _polynomial(rdd.LinearityRefModel, n, det, "linearity")


def inverselinearity(n: int, det: str) -> Any:
    return _polynomial(rdd.InverselinearityRefModel, n, det, "inverse linearity")


def dark(n: int, det: str) -> Any:
    shape = (n + 2 * NBORDER,) * 2
    m = rdd.DarkRefModel.create_fake_data(shape=shape)
    m.dark_slope = _full(shape, DARK_RATE)
    m.dark_slope_error = _full(shape, DARK_RATE / 10)
    m.dq = np.zeros(shape, dtype=np.uint32)
    m.meta.exposure.type = "WFI_IMAGE"
    return _meta(m, det, f"dark {DARK_RATE} DN/s")


def readnoise(n: int, det: str) -> Any:
    shape = (n + 2 * NBORDER,) * 2
    m = rdd.ReadnoiseRefModel.create_fake_data(shape=shape)
    m.data = _full(shape, READ_NOISE)
    m.meta.exposure.type = "WFI_IMAGE"
    return _meta(m, det, f"read noise {READ_NOISE} DN")


def gain(n: int, det: str) -> Any:
    shape = (n + 2 * NBORDER,) * 2
    m = rdd.GainRefModel.create_fake_data(shape=shape)
    m.data = _full(shape, GAIN)
    return _meta(m, det, f"gain {GAIN} e/DN")


def flat(n: int, det: str, optical_element: str) -> Any:
    m = rdd.FlatRefModel.create_fake_data(shape=(n, n))
    m.data, m.err = _full((n, n), 1.0), _full((n, n), 0.0)
    m.dq = np.zeros((n, n), dtype=np.uint32)
    m.meta.instrument.optical_element = optical_element
    return _meta(m, det, f"unit flat, {optical_element}")


def photom(n: int, det: str) -> Any:
    m = rdd.WfiImgPhotomRefModel.create_fake_data()
    wave = np.linspace(0.4, 2.4, 5, dtype=np.float32)
    m.phot_table = {
        f: {
            "photmjsr": PHOTMJSR,
            "uncertainty": PHOTMJSR / 100,
            "pixelareasr": PIXEL_AREA_SR,
            "collecting_area": 3.6,
            "wavelength": wave,
            "effective_area": np.full_like(wave, 2.0),
        }
        for f in FILTERS
    }
    return _meta(m, det, "flat photometric conversion in every filter")


def distortion(n: int, det: str, optical_element: str) -> Any:
    m = rdd.DistortionRefModel.create_fake_data()
    # detector pixels -> V2/V3 (arcsec) as a plain plate scale of 0.11"/pixel, centred on the
    # detector; the pipeline adds the pointing (wcsinfo) after this.
    half = n / 2.0
    scale = 0.11
    transform = (models.Shift(-half) & models.Shift(-half)) | (
        models.Scale(scale) & models.Scale(scale)
    )
    transform.bounding_box = ((-0.5, n - 0.5), (-0.5, n - 0.5))
    m.coordinate_distortion_transform = transform
    m.meta.instrument.optical_element = optical_element
    m.meta.input_units = "pixel"
    m.meta.output_units = "arcsec"
    return _meta(m, det, f'plate scale {scale}"/pixel, {optical_element}')


def apcorr(n: int, det: str) -> Any:
    m = rdd.ApcorrRefModel.create_fake_data()
    fractions = np.array([0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95], dtype=np.float64)
    radii = np.array([0.5, 1.0, 1.6, 2.6, 3.6, 5.5, 8.0], dtype=np.float64)
    m.data = {
        f: {
            "ap_corrections": 1.0 / fractions,
            "ee_fractions": fractions,
            "ee_radii": radii,
            "sky_background_rin": 10.0,
            "sky_background_rout": 15.0,
        }
        for f in FILTERS
    }
    return _meta(m, det, "encircled energy of a 1.6-pixel Gaussian-like PSF")


def epsf(n: int, det: str, optical_element: str) -> Any:
    """A Gaussian PSF (sigma 1 pixel) on a 2 x 2 grid, oversampled 4x, three spectral types."""
    over, half = 4, 20
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1] / over
    stamp = np.exp(-(xx**2 + yy**2) / 2.0).astype(np.float32)
    stamp *= over**2 / stamp.sum()  # integrated over pixels: sums to oversample**2
    grid = [0.0, float(n - 1)]
    m = rdd.EpsfRefModel.create_fake_data(shape=(1, 3, 4, *stamp.shape))
    m.psf = np.broadcast_to(stamp, (1, 3, 4, *stamp.shape)).astype(np.float32)
    m.meta.pixel_x = [x for x in grid for _ in grid]
    m.meta.pixel_y = [y for _ in grid for y in grid]
    m.meta.oversample = over
    m.meta.spectral_type = ["A0V", "G2V", "M6V"]
    m.meta.defocus = [0]
    m.meta.jitter_major = m.meta.jitter_minor = 8.0  # mas; romancal reconvolves to the image's
    m.meta.jitter_position_angle = 0.0
    m.meta.instrument.optical_element = optical_element
    return _meta(m, det, f"Gaussian ePSF, {optical_element}")


def integralnonlinearity(n: int, det: str) -> Any:
    m = rdd.IntegralnonlinearityRefModel.create_fake_data()
    m.value = np.arange(0, 65536, 4096, dtype=np.uint16)
    m.inl_table = {  # per 128-column channel; a zero correction leaves the ramps as they are
        f"science_channel_{c:02d}": {
            "instrument_channel": c - 1,
            "correction": np.zeros(m.value.shape, dtype=np.float64),
        }
        for c in range(1, 33)
    }
    m.meta.n_channels = 32
    m.meta.n_pixels_per_channel = 128
    return _meta(m, det, "no integral non-linearity (zero correction)")


def ipc(n: int, det: str) -> Any:
    m = rdd.IpcRefModel.create_fake_data(shape=(3, 3))
    kernel = np.zeros((3, 3), dtype=np.float32)
    kernel[1, 1] = 1.0
    m.data = kernel
    return _meta(m, det, "no inter-pixel capacitance (delta kernel)")


def matable(n: int, det: str) -> Any:
    """The science MA tables romanisim knows (its built-in read patterns), as CRDS serves them."""
    from romanisim.models import parameters as ris

    m = rdd.MATableRefModel.create_fake_data()
    tables = {}
    for number, pattern in sorted(ris.read_pattern.items()):
        pattern = [[int(r) for r in resultant] for resultant in pattern]
        tables[f"SCI{number:04d}"] = {
            "accumulated_exposure_time": [ris.read_time * r[-1] for r in pattern],
            "effective_exposure_time": [ris.read_time * float(np.mean(r)) for r in pattern],
            "frame_time": ris.read_time,
            "integration_duration": [ris.read_time * r[-1] for r in pattern],
            "ma_table_description": "romanisim built-in read pattern",
            "ma_table_name": f"SYNTHETIC_{number}",
            "ma_table_number": number,
            "fsw_slot_number": number,
            "min_science_resultants": 1,
            "num_pre_science_reads": 1,
            "num_pre_science_resultants": 0,
            "num_science_resultants": len(pattern),
            "observing_mode": "WIM",
            "pre_science_read_is_reference": [True],
            "pre_science_read_is_resultant": [False],
            "pre_science_read_types": ["reset_read"],
            "pre_science_time_after_reset": ris.read_time,
            "reset_frame_time": ris.read_time,
            "science_read_pattern": pattern,
        }
    m.science_tables = tables
    return _meta(m, det, "romanisim's built-in MA tables")


# reftype -> (builder, "per filter"?): the parkeys of each rmap come from CRDS's own spec.
Builder = Callable[..., Any]
BUILDERS: dict[str, tuple[Builder, bool]] = {
    "mask": (mask, False),
    "saturation": (saturation, False),
    "linearity": (linearity, False),
    "inverselinearity": (inverselinearity, False),
    "dark": (dark, False),
    "readnoise": (readnoise, False),
    "gain": (gain, False),
    "integralnonlinearity": (integralnonlinearity, False),
    "ipc": (ipc, False),
    "flat": (flat, True),
    "distortion": (distortion, True),
    "epsf": (epsf, True),
    "photom": (photom, False),
    "apcorr": (apcorr, False),
    "matable": (matable, False),
}
