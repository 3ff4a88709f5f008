"""A real moto S3 server process over HTTP on loopback."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from .processes import TEST_OUTPUT, ServerProcess, free_port


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    access_key: str = "testing"
    secret_key: str = "testing"
    region: str = "us-east-1"
    log_path: Path | None = None

    def client(self) -> Any:
        """A boto3 S3 client for this server."""
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3, s3fs and the notebooks here."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ENDPOINT_URL_S3": self.url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
        }


def start_moto(log_path: Path) -> tuple[ServerProcess, S3Endpoint]:
    port = free_port()
    proc = ServerProcess(
        name="moto_server",
        argv=[sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        log_path=log_path,
    ).start()
    url = f"http://127.0.0.1:{port}"
    proc.wait_http(f"{url}/moto-api/", timeout=60)
    return proc, S3Endpoint(url=url, log_path=log_path)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Endpoint]:
    """One moto S3 server for the test session; tests use their own buckets."""
    proc, endpoint = start_moto(TEST_OUTPUT / "logs" / "moto-s3.log")
    try:
        yield endpoint
    finally:
        proc.stop()
