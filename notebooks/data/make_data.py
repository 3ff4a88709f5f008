"""Build synthetic Roman files and upload them to an S3 endpoint under the tutorials' keys.

Run it with the Roman Research Nexus kernel's Python (it needs roman_datamodels):

    .venv-kernels/roman-research-nexus/bin/python notebooks/data/make_data.py \
        --endpoint http://127.0.0.1:5000

What it makes (builders.py; 512 x 512 by default):

- a Level 1 (uncal) WFI file and eight Level 2 (cal) files (the detectors and exposures the
  tutorials open), built with roman_datamodels' `create_fake_data`, with a noise background and
  point sources;
- two OpenUniverse-style `.fits.gz` images (primary header + SCI/ERR/DQ extensions, TAN WCS);
- a ROSAT PSPC-style counts image, Unix-compressed (`.fits.Z`, lzw.py);
- for the grism tutorial, a direct and a grism Level 2 file and their FITS source catalog; for
  the CCS-simulation tutorial, two Level 2 files, a Parquet and an input catalog; for the TVAC
  tutorial, four TvacModel ramps (builders_more.py).

`--full-size` builds only the Level 1 file, the first Level 2 file and the first OpenUniverse
image, at 4088 x 4088 (what the streaming benchmark reads).

Under the keys STScI's and our tutorials read (RECIPES below): STScI's `stpubdata` tutorial folder
for release roman-2026.2 (and the first Level 2 file in roman-2026.1), its CCS simulation and
TVAC folders, IRSA's OpenUniverse preview
(`nasa-irsa-simulations`) and a ROSAT image in HEASARC's `nasa-heasarc` layout (`.fits.Z`). The
three public buckets get a public-read bucket policy, as on AWS, so `s3fs.S3FileSystem(anon=True)`
reads them; other buckets (the platform's private one) are not touched.

Files are written once to the output folder and reused while their recipe is unchanged. Uploads
skip objects that the bucket already holds with the same SHA-256, so the script can be rerun at
any time (for example after moto's server restarted and lost its state).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from builders import build_l1, build_l2, build_openuniverse, build_rosat_image
from builders_more import (
    build_grism_catalog,
    build_grism_direct,
    build_grism_dispersed,
    build_input_catalog,
    build_source_catalog,
    build_tvac,
)

RECIPE_VERSION = 5

# STScI's public bucket: tutorial files sit in one folder per platform release.
NEXUS_BUCKET = "stpubdata"
NEXUS_PREFIX = "roman/nexus/soc_simulations/tutorial_data"
NEXUS_RELEASE = f"{NEXUS_PREFIX}/roman-2026.2"
NEXUS_PREVIOUS = f"{NEXUS_PREFIX}/roman-2026.1"
# STScI's CCS simulations (GBTDS r00340, HLWAS r00342) and TVAC ground-test ramps.
CCS_PREFIX = "roman/nexus/soc_simulations"
TVAC_PREFIX = "roman/nexus/tvac/OTP00651_BrightStar_TV2b_R1_MCEB"
# IRSA's OpenUniverse 2024 preview: time-domain (ours) and wide-area (STScI's) surveys.
OU_BUCKET = "nasa-irsa-simulations"
OU_ROOT = "openuniverse2024/roman/preview"
OU_PREFIX = f"{OU_ROOT}/RomanTDS/images/simple_model/F184/13012"
OU_WAS_PREFIX = f"{OU_ROOT}/RomanWAS/images/simple_model/F184/15297"
# HEASARC's archive mirror: ROSAT PSPC products as Unix-compressed FITS.
HEASARC_BUCKET = "nasa-heasarc"
ROSAT_PREFIX = "rosat/data/pspc/processed_data/600000/rp600245n00"

L1_NAME = "r0003201001001001004_0001_wfi01_f106_uncal.asdf"
L2_NAME = "r0003201001001001004_0001_wfi01_f106_cal.asdf"
OU_NAME = "Roman_TDS_simple_model_F184_13012_10.fits.gz"
OU_WAS_NAME = "Roman_WAS_simple_model_F184_15297_11.fits.gz"
ROSAT_NAME = "rp600245n00_im1.fits.Z"
GRISM_DIRECT = "r0007601002004013001_0001_wfi01_f158_cal.asdf"
GRISM_DISPERSED = "r0007601002004013002_0001_wfi01_grism_cal.asdf"
GRISM_CATALOG = "r0007601002004013001_0001_catalog.fits"
CCS_GBTDS_L2 = "r0034001002001001025_0001_wfi10_f146_cal.asdf"
CCS_HLWAS_L2 = "r0034201008001002018_0003_wfi01_f129_cal.asdf"
CCS_HLWAS_CAT = "r0034201008001002018_0003_wfi01_f129_cat.parquet"
CCS_L2_CATALOGS = f"{CCS_PREFIX}/r00342/l4/l2_source_catalog"

SMALL_SHAPE = 512
FULL_SHAPE = 4088


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
# what goes where: the buckets and keys the public tutorials read


@dataclass(frozen=True)
class Recipe:
    """One synthetic file and every key it is uploaded under."""

    name: str
    build: Callable[[Path, int], None]
    prefixes: tuple[tuple[str, str], ...]  # (bucket, key prefix)
    full_size: bool = False  # also built at 4088 x 4088 with --full-size


def _l2_names() -> list[str]:
    """The Level 2 exposures STScI's tutorials open from the roman-2026.2 release folder."""
    stem = "r0003201001001001004"
    seen = [("0001", "wfi01"), ("0001", "wfi02"), ("0001", "wfi11"), ("0002", "wfi01")]
    seen += [("0002", "wfi02"), ("0002", "wfi11"), ("0003", "wfi11"), ("0004", "wfi11")]
    return [f"{stem}_{exp}_{det}_f106_cal.asdf" for exp, det in seen]


def _tvac_names() -> list[tuple[str, str]]:
    """(activity folder, file name) of the TVAC ramps the bright-star tutorial opens."""
    times = [("Activity_22", "20240506204523")]
    times += [("Activity_40", t) for t in ("20240506225304", "20240506225611", "20240506225917")]
    return [(a, f"TVAC2_TOHOTQUAL_WFISAT_{t}_WFI11_uncal.asdf") for a, t in times]


RECIPES: list[Recipe] = [
    Recipe(L1_NAME, build_l1, ((NEXUS_BUCKET, NEXUS_RELEASE),), full_size=True),
    # the first Level 2 file is also in the previous release folder, as on STScI's bucket
    Recipe(
        L2_NAME, build_l2, ((NEXUS_BUCKET, NEXUS_RELEASE), (NEXUS_BUCKET, NEXUS_PREVIOUS)), True
    ),
    *[Recipe(n, build_l2, ((NEXUS_BUCKET, NEXUS_RELEASE),)) for n in _l2_names()[1:]],
    # grism_spectral_extraction: direct image, grism image and the catalog tying them
    Recipe(GRISM_DIRECT, build_grism_direct, ((NEXUS_BUCKET, NEXUS_RELEASE),)),
    Recipe(GRISM_DISPERSED, build_grism_dispersed, ((NEXUS_BUCKET, NEXUS_RELEASE),)),
    Recipe(GRISM_CATALOG, build_grism_catalog, ((NEXUS_BUCKET, NEXUS_RELEASE),)),
    # ccs_simulations: a GBTDS Level 2 file, an HLWAS Level 2 file and its source catalog
    Recipe(CCS_GBTDS_L2, build_l2, ((NEXUS_BUCKET, f"{CCS_PREFIX}/r00340/l2"),)),
    Recipe(CCS_HLWAS_L2, build_l2, ((NEXUS_BUCKET, f"{CCS_PREFIX}/r00342/l2"),)),
    Recipe(CCS_HLWAS_CAT, build_source_catalog, ((NEXUS_BUCKET, CCS_L2_CATALOGS),)),
    # the input catalog of the tutorial's cone: HEALPix (nested, Galactic, nside 512) pixel
    Recipe(
        "cat-2896871.fits", build_input_catalog, ((NEXUS_BUCKET, f"{CCS_PREFIX}/input_catalogs"),)
    ),
    # wfi_tvac_brightstar: one illuminated ramp (Activity_22) and three darks (Activity_40)
    *[Recipe(n, build_tvac, ((NEXUS_BUCKET, f"{TVAC_PREFIX}/{a}"),)) for a, n in _tvac_names()],
    Recipe(OU_NAME, build_openuniverse, ((OU_BUCKET, OU_PREFIX),), full_size=True),
    Recipe(OU_WAS_NAME, build_openuniverse, ((OU_BUCKET, OU_WAS_PREFIX),)),
    Recipe(ROSAT_NAME, build_rosat_image, ((HEASARC_BUCKET, ROSAT_PREFIX),)),
]
PUBLIC_BUCKETS = (NEXUS_BUCKET, OU_BUCKET, HEASARC_BUCKET)


def build(out_dir: Path, full_size: bool = False, force: bool = False) -> list[DataFile]:
    """Build (or reuse) every file; return what is on disk."""
    shape = FULL_SHAPE if full_size else SMALL_SHAPE
    folder = out_dir / ("full" if full_size else "small")
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    recipes = [r for r in RECIPES if r.full_size or not full_size]
    for i, r in enumerate(recipes, 1):
        name, builder = r.name, r.build
        path = folder / name
        recipe = {"version": RECIPE_VERSION, "shape": shape, "name": name}
        stamp = path.with_name(path.name + ".json")
        stamped: dict[str, Any] = {}
        if stamp.exists():
            stamped = json.loads(stamp.read_text())
        if not force and path.exists() and stamped.get("recipe") == recipe:
            say(f"[{i}/{len(recipes)}] {name}: up to date ({path.stat().st_size / 1e6:.1f} MB)")
            digest = str(stamped["sha256"])
        else:
            say(f"[{i}/{len(recipes)}] building {name} ({shape} x {shape}) ...")
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
        size = path.stat().st_size
        for bucket, prefix in r.prefixes:
            key = f"{prefix}/{name}"
            files.append(DataFile(name, bucket, key, path, digest, size))
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
    for bucket in dict.fromkeys(f.bucket for f in files):
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)
        if bucket in PUBLIC_BUCKETS:
            client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(public_read_policy(bucket)))
    uploaded = []
    transfer = TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=64 << 20)
    for i, f in enumerate(files, 1):
        label = f"[{i}/{len(files)}] s3://{f.bucket}/{f.key}"
        public = f.bucket in PUBLIC_BUCKETS
        try:
            head = client.head_object(Bucket=f.bucket, Key=f.key)
            if head.get("Metadata", {}).get("sha256") == f.sha256:
                if public:  # objects uploaded before buckets were public
                    client.put_object_acl(Bucket=f.bucket, Key=f.key, ACL="public-read")
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
            ExtraArgs={
                "Metadata": {"sha256": f.sha256},
                **({"ACL": "public-read"} if public else {}),
            },
            Config=transfer,
            Callback=progress,
        )
        progress.done()
        uploaded.append(f.key)
    return uploaded


def public_read_policy(bucket: str) -> dict[str, Any]:
    """Anyone may list the bucket and read its objects, as on the public AWS buckets.

    moto authorises an unsigned GET by this policy but names a HEAD `s3:HeadObject`, which no
    policy can grant (AWS checks HEAD as s3:GetObject); the objects are also uploaded with the
    public-read ACL so anonymous HEAD requests (s3fs `info`, `open`) pass too.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicList",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{bucket}",
            },
            {
                "Sid": "PublicRead",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            },
        ],
    }


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
