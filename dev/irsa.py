"""Keyless bucket access the way EKS gives it (IRSA), for the local S3/STS (moto).

On EKS the pod identity webhook sees the user service account's `eks.amazonaws.com/role-arn`
annotation and gives each user pod `AWS_ROLE_ARN`, `AWS_WEB_IDENTITY_TOKEN_FILE` (a projected
service-account token, audience `sts.amazonaws.com`) and region settings. boto3 and s3fs trade
the token for short-lived credentials with STS AssumeRoleWithWebIdentity; no keys anywhere.

`make dev` does the same against moto: it creates the OIDC provider, the role with its trust and
read policy, the private bucket, and writes a token file; user servers get only the role ARN and
the token file. The names follow docs/deploy.md.
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
PRIVATE_BUCKET = "roman-nexus-private-data"
ROLE_NAME = "nexus-user-data-read"
POLICY_NAME = "nexus-private-data-read"
# The cluster's OIDC issuer (EKS: https://oidc.eks.<region>.amazonaws.com/id/<id>).
ISSUER = f"https://oidc.eks.{REGION}.amazonaws.com/id/NEXUSLOCALDEV"
AUDIENCE = "sts.amazonaws.com"
SERVICE_ACCOUNT = "system:serviceaccount:roman-nexus:nexus-user"


def provider_arn(issuer: str = ISSUER) -> str:
    return f"arn:aws:iam::{ACCOUNT}:oidc-provider/{issuer.removeprefix('https://')}"


def role_arn(name: str = ROLE_NAME) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def trust_policy(subject: str = SERVICE_ACCOUNT, issuer: str = ISSUER) -> dict[str, Any]:
    """What `eksctl create iamserviceaccount` writes: only this service account, only for STS."""
    host = issuer.removeprefix("https://")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn(issuer)},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {f"{host}:sub": subject, f"{host}:aud": AUDIENCE}},
            }
        ],
    }


def read_policy(bucket: str = PRIVATE_BUCKET) -> dict[str, Any]:
    """Read only: list the bucket, get its objects (docs/deploy.md, section 3)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"},
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"},
        ],
    }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def web_identity_token(
    subject: str = SERVICE_ACCOUNT, issuer: str = ISSUER, lifetime: int = 365 * 86400
) -> str:
    """A service-account token's shape (JWT claims iss/sub/aud/exp). Unsigned: moto checks none."""
    now = int(time.time())
    claims = {"iss": issuer, "sub": subject, "aud": [AUDIENCE], "iat": now, "exp": now + lifetime}
    header = {"alg": "RS256", "kid": "nexus-dev"}
    return ".".join(
        [_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), _b64(b"unsigned")]
    )


def write_token(path: Path, subject: str = SERVICE_ACCOUNT, issuer: str = ISSUER) -> Path:
    """Write the token file (0600), as the kubelet projects it into the pod."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(web_identity_token(subject, issuer))
    return path


@dataclass(frozen=True)
class RoleSetup:
    role_arn: str
    bucket: str


def provision(
    endpoint: str,
    *,
    role: str = ROLE_NAME,
    bucket: str = PRIVATE_BUCKET,
    subject: str = SERVICE_ACCOUNT,
    grant: bool = True,
    admin_keys: tuple[str, str] = ("testing", "testing"),
) -> RoleSetup:
    """Create (idempotently) the OIDC provider, the private bucket and the role in moto's IAM.

    `grant=False` makes a role without the bucket policy (the wrong role, for tests).
    """
    import boto3
    from botocore.exceptions import ClientError

    kwargs: dict[str, Any] = {
        "endpoint_url": endpoint,
        "region_name": REGION,
        "aws_access_key_id": admin_keys[0],
        "aws_secret_access_key": admin_keys[1],
    }
    iam = boto3.client("iam", **kwargs)
    s3 = boto3.client("s3", **kwargs)
    known = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    if provider_arn() not in [p["Arn"] for p in known]:
        iam.create_open_id_connect_provider(
            Url=ISSUER, ClientIDList=[AUDIENCE], ThumbprintList=["0" * 40]
        )
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
            raise
    try:
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust_policy(subject)))
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "EntityAlreadyExists":
            raise
    if grant:
        policy = f"arn:aws:iam::{ACCOUNT}:policy/{POLICY_NAME}"
        try:
            iam.create_policy(
                PolicyName=POLICY_NAME, PolicyDocument=json.dumps(read_policy(bucket))
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "EntityAlreadyExists":
                raise
        iam.attach_role_policy(RoleName=role, PolicyArn=policy)
    return RoleSetup(role_arn=role_arn(role), bucket=bucket)


def pod_env(endpoint: str, token_file: Path, role: str = ROLE_NAME) -> dict[str, str]:
    """What the EKS webhook injects, plus the local endpoint for S3 and STS (moto)."""
    return {
        "AWS_ROLE_ARN": role_arn(role),
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
        "AWS_STS_REGIONAL_ENDPOINTS": "regional",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ENDPOINT_URL_S3": endpoint,
    }
