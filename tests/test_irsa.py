"""`make dev` gives user servers an IAM role and a web identity token, not static keys.

The kernel-level proof with IAM enforced is tests/kernels/test_irsa.py; this checks that the dev
platform wires the same mechanism, and that the public tutorial bucket stays readable with it.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from dev import envs, irsa
from dev.platform import Platform
from dev.settings import SECRET_NAMES, DevSettings, Ports
from tests.support.s3 import S3Endpoint

READ = """
import json, boto3
s3 = boto3.client("s3")
out = {
    "private": s3.get_object(Bucket=BUCKET, Key="hello.txt")["Body"].read().decode(),
    "public": s3.get_object(Bucket="stpubdata", Key="roman/hello.txt")["Body"].read().decode(),
    "arn": boto3.client("sts").get_caller_identity()["Arn"],
}
print(json.dumps(out))
"""


def dev_platform(state: Path, s3_url: str = "http://127.0.0.1:9000") -> Platform:
    port = urlparse(s3_url).port
    assert port is not None
    return Platform(DevSettings(state_dir=state, ports=Ports(s3=port)), quiet=True)


def test_user_servers_get_a_role_and_a_token_file_not_keys(tmp_path: Path) -> None:
    platform = dev_platform(tmp_path)
    env = envs.singleuser_env(platform.settings)
    assert "AWS_ACCESS_KEY_ID" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert env["AWS_ROLE_ARN"] == irsa.role_arn()
    assert env["AWS_WEB_IDENTITY_TOKEN_FILE"] == str(platform.settings.web_identity_token_file)
    assert env["AWS_ENDPOINT_URL"] == platform.settings.s3_url
    # the hub hands exactly this to the servers it spawns
    hub_env = envs.dev_hub_env(platform.settings, {name: "x" for name in SECRET_NAMES})
    assert json.loads(hub_env["NEXUS_DEV_SINGLEUSER_ENV"]) == env


def test_the_token_is_for_the_user_service_account(tmp_path: Path) -> None:
    token = irsa.write_token(tmp_path / "token")
    assert oct(token.stat().st_mode & 0o777) == "0o600"
    _header, claims, _sig = token.read_text().split(".")
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    assert decoded["sub"] == irsa.SERVICE_ACCOUNT and decoded["aud"] == [irsa.AUDIENCE]
    assert decoded["iss"] == irsa.ISSUER
    host = irsa.ISSUER.removeprefix("https://")
    trust = irsa.trust_policy()["Statement"][0]
    assert trust["Condition"]["StringEquals"] == {
        f"{host}:sub": decoded["sub"],
        f"{host}:aud": irsa.AUDIENCE,
    }


@pytest.mark.integration
def test_dev_server_env_reads_private_and_public_buckets(
    s3_server: S3Endpoint, tmp_path: Path
) -> None:
    """Against moto as `make dev` runs it: the role reads the private bucket; public stays open."""
    platform = dev_platform(tmp_path / "state", s3_server.url)
    platform._provision_irsa()
    platform._provision_irsa()  # a restart provisions again: idempotent
    admin = s3_server.client()
    admin.put_object(Bucket=irsa.PRIVATE_BUCKET, Key="hello.txt", Body=b"private")
    admin.create_bucket(Bucket="stpubdata")
    admin.put_object(Bucket="stpubdata", Key="roman/hello.txt", Body=b"public")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        **envs.singleuser_env(platform.settings),
    }
    proc = subprocess.run(
        [sys.executable, "-c", f"BUCKET = {irsa.PRIVATE_BUCKET!r}\n{READ}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["private"] == "private" and out["public"] == "public"
    assert f":assumed-role/{irsa.ROLE_NAME}/" in out["arn"], out["arn"]
