"""A Roman kernel reads the private bucket with its IAM role and no keys (IRSA), for real.

The kernel gets only what the EKS pod identity webhook injects (AWS_ROLE_ARN,
AWS_WEB_IDENTITY_TOKEN_FILE, region settings) plus the endpoint of moto's S3/STS/IAM server, which
enforces IAM: every S3 request is checked against the policies of the role the token assumed.
The role, its trust and read policy and the token come from dev/irsa.py, as `make dev` uses them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dev import irsa
from tests.support.irsa import enforce_iam, start_iam_moto
from tests.support.kernels import KERNELSPECS, RRN, require_kernel
from tests.support.processes import TEST_OUTPUT
from tests.support.s3 import S3Endpoint

pytestmark = [pytest.mark.integration, pytest.mark.kernels]

KEY = "calibration/README.txt"
CONTENT = "Roman Research Nexus private data\n"
WRONG_ROLE = "nexus-user-no-data"
NO_SUCH_ROLE = "nexus-user-never-created"


@dataclass(frozen=True)
class Platform:
    endpoint: S3Endpoint
    token_file: Path


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    proc, endpoint = start_iam_moto(TEST_OUTPUT / "logs" / "moto-iam.log")
    try:
        irsa.provision(endpoint.url)
        irsa.provision(endpoint.url, role=WRONG_ROLE, grant=False)
        endpoint.client().put_object(Bucket=irsa.PRIVATE_BUCKET, Key=KEY, Body=CONTENT.encode())
        enforce_iam(endpoint.url)
        token = irsa.write_token(tmp_path_factory.mktemp("irsa") / "token")
        yield Platform(endpoint, token)
    finally:
        proc.stop()


@dataclass
class Run:
    stdout: str
    stderr: str
    error: tuple[str, str] | None


def run_in_kernel(env: Mapping[str, str], code: str, timeout: float = 120) -> Run:
    """Start the Roman kernel from its kernelspec with exactly `env` (no keys leak in)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    require_kernel(RRN)
    manager = KernelManager(
        kernel_name=RRN, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(KERNELSPECS)])
    )
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    manager.start_kernel(env={**base, "AWS_EC2_METADATA_DISABLED": "true", **env})
    client = manager.client()
    client.start_channels()
    out: dict[str, list[str]] = {"stdout": [], "stderr": []}
    errors: list[tuple[str, str]] = []

    def hook(msg: dict[str, Any]) -> None:
        content = msg["content"]
        if msg["msg_type"] == "stream":
            out[content["name"]].append(content["text"])
        elif msg["msg_type"] == "error":
            errors.append((content["ename"], content["evalue"]))

    try:
        client.wait_for_ready(timeout=120)
        client.execute_interactive(code, timeout=timeout, output_hook=hook)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return Run("".join(out["stdout"]), "".join(out["stderr"]), errors[0] if errors else None)


def pod_env(platform: Platform, role: str) -> dict[str, str]:
    env = irsa.pod_env(platform.endpoint.url, platform.token_file, role=role)
    assert not any(k in env for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"))
    return env


BOTO3_READ = f"""
import boto3
body = boto3.client("s3").get_object(Bucket={irsa.PRIVATE_BUCKET!r}, Key={KEY!r})["Body"].read()
print(body.decode(), end="")
"""
S3FS_READ = f"""
import s3fs
print(s3fs.S3FileSystem().cat("{irsa.PRIVATE_BUCKET}/{KEY}").decode(), end="")
"""
WHO_AM_I = """
import boto3, json
print(json.dumps(boto3.client("sts").get_caller_identity()))
"""


def test_kernel_reads_the_private_bucket_with_its_role_and_no_keys(platform: Platform) -> None:
    env = pod_env(platform, irsa.ROLE_NAME)
    for code in (BOTO3_READ, S3FS_READ):
        run = run_in_kernel(env, code)
        assert run.error is None, run
        assert run.stdout == CONTENT
    who = run_in_kernel(env, WHO_AM_I)
    assert who.error is None, who
    arn = json.loads(who.stdout)["Arn"]
    assert f":assumed-role/{irsa.ROLE_NAME}/" in arn, arn


def test_static_keys_are_not_how_it_works(platform: Platform) -> None:
    """With IAM enforced, moto's usual made-up keys are refused: the role is what reads."""
    env = {**pod_env(platform, irsa.ROLE_NAME), "AWS_ACCESS_KEY_ID": "testing"}
    env["AWS_SECRET_ACCESS_KEY"] = "testing"  # keys win over the role in boto3's chain
    run = run_in_kernel(env, BOTO3_READ)
    assert run.error is not None and run.error[0] == "ClientError", run
    assert "(InvalidAccessKeyId)" in run.error[1], run.error


@pytest.mark.parametrize(
    ("role", "refused_by", "s3fs_says"),
    [
        # S3 refuses the role's request (s3fs asks HEAD first: a 403 without a body)
        (WRONG_ROLE, "GetObject", "Forbidden"),
        # STS refuses the token for a role that does not exist (or does not trust it)
        (NO_SUCH_ROLE, "AssumeRoleWithWebIdentity", "Not authorized to perform sts:AssumeRole"),
    ],
    ids=["role-without-bucket-policy", "no-such-role"],
)
def test_without_the_role_the_read_is_a_clear_403(
    platform: Platform, role: str, refused_by: str, s3fs_says: str
) -> None:
    env = pod_env(platform, role)
    run = run_in_kernel(env, BOTO3_READ)
    assert run.error is not None, run
    ename, evalue = run.error
    assert ename in {"ClientError", "AccessDenied"}, run.error
    assert f"An error occurred (AccessDenied) when calling the {refused_by} operation" in evalue
    assert "Traceback" not in run.stderr, run.stderr

    run = run_in_kernel(env, S3FS_READ)
    assert run.error is not None, run
    ename, evalue = run.error
    assert ename == "PermissionError", run.error
    assert s3fs_says in evalue, run.error
    assert "Traceback" not in run.stderr, run.stderr[-2000:]


def test_a_token_of_another_service_account_cannot_assume_the_role(
    platform: Platform, tmp_path: Path
) -> None:
    """The trust policy names the user service account; any other account is refused."""
    other = irsa.write_token(tmp_path / "token", subject="system:serviceaccount:roman-nexus:x")
    env = {**pod_env(platform, irsa.ROLE_NAME), "AWS_WEB_IDENTITY_TOKEN_FILE": str(other)}
    run = run_in_kernel(env, BOTO3_READ)
    assert run.error is not None, run
    assert "(AccessDenied) when calling the AssumeRoleWithWebIdentity operation" in run.error[1]
