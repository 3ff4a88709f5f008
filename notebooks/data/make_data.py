"""Build synthetic Roman files and upload them to an S3 endpoint under the tutorials' keys.

Run it with the Roman Research Nexus kernel's Python (it needs roman_datamodels):

    .venv-kernels/roman-research-nexus/bin/python notebooks/data/make_data.py \
        --endpoint http://127.0.0.1:5000

What it makes (small by default; `--full-size` makes 4088 x 4088 detector images):

- a Level 1 (uncal) and a Level 2 (cal) WFI file, built with roman_datamodels'
  `create_fake_data`, with a noise background and point sources in the Level 2 image;
- an OpenUniverse-style `.fits.gz` image (primary header + SCI/ERR/DQ extensions, TAN WCS).

Files are written once to the output folder and reused while their recipe is unchanged. Uploads
skip objects that the bucket already holds with the same SHA-256, so the script can be rerun at
any time (for example after moto's server restarted and lost its state).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RECIPE_VERSION = 3

NEXUS_BUCKET = "stpubdata"
NEXUS_PREFIX = "roman/nexus/soc_simulations/tutorial_data"
OU_BUCKET = "nasa-irsa-simulations"
OU_PREFIX = "openuniverse2024/roman/preview/RomanTDS/images/simple_model/F184/13012"

L1_NAME = "r0003201001001001004_0001_wfi01_f106_uncal.asdf"
L2_NAME = "r0003201001001001004_0001_wfi01_f106_cal.asdf"
OU_NAME = "Roman_TDS_simple_model_F184_13012_10.fits.gz"

SMALL_SHAPE = 512
FULL_SHAPE = 4088
N_RESULTANTS = 6


class DataError(Exception):
    """A problem a person can fix (bad option, unreachable endpoint); printed without traceback."""


@dataclass(frozen=True)
class DataFile:
    name: str
    bucket: str
    key: str
    path: Path
    sha256: str
    size: int

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def say(msg: str) -> None:
    print(msg, flush=True)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as src:
        for chunk in iter(lambda: src.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# building


def _star_field(shape: int, seed: int) -> Any:
    """A float32 image: sky + read noise + Gaussian point sources (deterministic for a seed)."""
    import numpy as np  # type: ignore[import-not-found,unused-ignore]

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


def _meta_defaults(model_type: str, filename: str) -> dict[str, Any]:
    return {
        "meta": {
            "filename": filename,
            "instrument": {"name": "WFI", "detector": "WFI01", "optical_element": "F106"},
            "observation": {
                "program": 32,
                "execution_plan": 1,
                "pass": 1,
                "segment": 1,
                "observation": 1,
                "visit": 4,
                "visit_file_group": 1,
                "visit_file_sequence": 1,
                "exposure": 1,
            },
            "exposure": {"type": model_type},
        }
    }


def build_l1(path: Path, shape: int) -> None:
    import numpy as np  # type: ignore[import-not-found,unused-ignore]
    import roman_datamodels.datamodels as rdd

    model = rdd.ScienceRawModel.create_fake_data(
        defaults=_meta_defaults("WFI_IMAGE", path.name), shape=(N_RESULTANTS, shape, shape)
    )
    sky = _star_field(shape, seed=1)
    ramp = np.linspace(1.0, float(N_RESULTANTS), N_RESULTANTS, dtype=np.float32)[:, None, None]
    counts = 1000.0 + 500.0 * ramp * sky[None, :, :]
    model.data = np.clip(counts, 0, 65535).astype(np.uint16)
    model.save(path)


def build_l2(path: Path, shape: int) -> None:
    import numpy as np  # type: ignore[import-not-found,unused-ignore]
    import roman_datamodels.datamodels as rdd

    model = rdd.ImageModel.create_fake_data(
        defaults=_meta_defaults("WFI_IMAGE", path.name), shape=(shape, shape)
    )
    rng = np.random.default_rng(2)
    data = _star_field(shape, seed=2)
    model.data = data
    err = np.sqrt(np.abs(data) * 0.01 + 0.0025).astype(np.float16)
    model.err = err
    model.var_poisson = (np.abs(data) * 0.01).astype(np.float16)
    model.chisq = rng.chisquare(4, size=(shape, shape)).astype(np.float16)
    model.dq = np.zeros((shape, shape), dtype=np.uint32)
    model.save(path)


def build_openuniverse(path: Path, shape: int) -> None:
    import numpy as np  # type: ignore[import-not-found,unused-ignore]
    from astropy.io import fits

    data = _star_field(shape, seed=3)
    primary = fits.PrimaryHDU()
    hdr = primary.header
    hdr["TELESCOP"] = "ROMAN"
    hdr["INSTRUME"] = "WFI"
    hdr["FILTER"] = "F184"
    hdr["SCA_NUM"] = 10
    hdr["POINTING"] = 13012
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


BUILDERS: dict[str, tuple[Callable[[Path, int], None], str, str]] = {
    L1_NAME: (build_l1, NEXUS_BUCKET, NEXUS_PREFIX),
    L2_NAME: (build_l2, NEXUS_BUCKET, NEXUS_PREFIX),
    OU_NAME: (build_openuniverse, OU_BUCKET, OU_PREFIX),
}


def build(out_dir: Path, full_size: bool = False, force: bool = False) -> list[DataFile]:
    """Build (or reuse) every file; return what is on disk."""
    shape = FULL_SHAPE if full_size else SMALL_SHAPE
    folder = out_dir / ("full" if full_size else "small")
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i, (name, (builder, bucket, prefix)) in enumerate(BUILDERS.items(), 1):
        path = folder / name
        recipe = {"version": RECIPE_VERSION, "shape": shape, "name": name}
        stamp = path.with_name(path.name + ".json")
        stamped: dict[str, Any] = {}
        if stamp.exists():
            stamped = json.loads(stamp.read_text())
        if not force and path.exists() and stamped.get("recipe") == recipe:
            say(f"[{i}/{len(BUILDERS)}] {name}: up to date ({path.stat().st_size / 1e6:.1f} MB)")
            digest = str(stamped["sha256"])
        else:
            say(f"[{i}/{len(BUILDERS)}] building {name} ({shape} x {shape}) ...")
            start = time.monotonic()
            tmp_dir = folder / ".building"
            tmp_dir.mkdir(exist_ok=True)
            tmp = tmp_dir / name  # roman_datamodels records the file name: keep it
            builder(tmp, shape)
            tmp.replace(path)
            digest = sha256_of(path)
            stamp.write_text(json.dumps({"recipe": recipe, "sha256": digest}, indent=2))
            size_mb = path.stat().st_size / 1e6
            say(f"      wrote {path} ({size_mb:.1f} MB, {time.monotonic() - start:.1f} s)")
        files.append(
            DataFile(
                name=name,
                bucket=bucket,
                key=f"{prefix}/{name}",
                path=path,
                sha256=digest,
                size=path.stat().st_size,
            )
        )
    return files


# ---------------------------------------------------------------------------------------------
# uploading


def s3_client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        config=Config(connect_timeout=5, read_timeout=120, retries={"max_attempts": 2}),
    )


def upload(files: list[DataFile], endpoint: str) -> list[str]:
    """Upload files that the bucket lacks (or holds with another SHA-256); return uploaded keys."""
    from boto3.s3.transfer import TransferConfig
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

    client = s3_client(endpoint)
    try:
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    except (EndpointConnectionError, BotoCoreError) as exc:
        raise DataError(f"cannot reach the S3 endpoint {endpoint}: {exc}") from exc
    except ClientError as exc:
        raise DataError(f"the S3 endpoint {endpoint} refused to list buckets: {exc}") from exc
    uploaded = []
    transfer = TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=64 << 20)
    for i, f in enumerate(files, 1):
        label = f"[{i}/{len(files)}] s3://{f.bucket}/{f.key}"
        if f.bucket not in existing:
            client.create_bucket(Bucket=f.bucket)
            existing.add(f.bucket)
        try:
            head = client.head_object(Bucket=f.bucket, Key=f.key)
            if head.get("Metadata", {}).get("sha256") == f.sha256:
                say(f"{label}: already there")
                continue
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchKey", "NotFound"}:
                raise DataError(f"{label}: {exc}") from exc
        progress = _Progress(label, f.size)
        client.upload_file(
            str(f.path),
            f.bucket,
            f.key,
            ExtraArgs={"Metadata": {"sha256": f.sha256}},
            Config=transfer,
            Callback=progress,
        )
        progress.done()
        uploaded.append(f.key)
    return uploaded


class _Progress:
    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = max(total, 1)
        self.sent = 0
        self.shown = -1

    def __call__(self, n: int) -> None:
        self.sent += n
        pct = int(100 * self.sent / self.total) // 25 * 25
        if pct != self.shown and pct < 100:
            self.shown = pct
            say(f"{self.label}: uploading {pct}%")

    def done(self) -> None:
        say(f"{self.label}: uploaded {self.total / 1e6:.1f} MB")


# ---------------------------------------------------------------------------------------------
# command line


def default_out_dir() -> Path:
    state = os.environ.get("NEXUS_STATE_DIR")
    if state:
        return Path(state) / "data"
    return Path(__file__).resolve().parents[2] / ".state" / "data"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make_data.py",
        description="Build synthetic Roman files and upload them to S3 under the tutorials' keys.",
    )
    parser.add_argument(
        "--endpoint",
        default=os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"),
        help="S3 endpoint URL (default: $AWS_ENDPOINT_URL_S3 or $AWS_ENDPOINT_URL)",
    )
    parser.add_argument("--out", type=Path, default=default_out_dir(), help="local folder")
    parser.add_argument(
        "--full-size", action="store_true", help="4088 x 4088 detector images (about 0.3 GB)"
    )
    parser.add_argument("--no-upload", action="store_true", help="only build the local files")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    parser.add_argument(
        "--manifest", type=Path, help="write a JSON list of the files (name, uri, size, sha256)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        try:
            import roman_datamodels  # noqa: F401
        except ImportError as exc:
            raise DataError(
                "roman_datamodels is not importable: run this with the Roman Research Nexus "
                "kernel's Python (.venv-kernels/roman-research-nexus/bin/python; `make kernels`)"
            ) from exc
        if not args.no_upload:
            if not args.endpoint:
                raise DataError(
                    "no S3 endpoint: pass --endpoint URL or set AWS_ENDPOINT_URL "
                    "(for the local platform, start moto's server first, e.g. `make dev`)"
                )
            if not args.endpoint.startswith(("http://", "https://")):
                raise DataError(f"--endpoint must be an http(s) URL, got {args.endpoint!r}")
        files = build(args.out, full_size=args.full_size, force=args.force)
        if not args.no_upload:
            say(f"uploading to {args.endpoint}")
            uploaded = upload(files, args.endpoint)
            say(f"done: {len(uploaded)} uploaded, {len(files) - len(uploaded)} already there")
        if args.manifest:
            rows = [{**asdict(f), "path": str(f.path), "uri": f.uri} for f in files]
            args.manifest.write_text(json.dumps(rows, indent=2))
    except DataError as exc:
        print(f"make_data: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"make_data: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
