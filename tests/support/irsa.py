"""moto's S3 + STS + IAM server with IAM permissions enforced, for the IRSA test.

moto can enforce IAM (every signed request is checked against the caller's policies), but its
STS does two things real STS does not:
- with enforcement on, it wants a signature on AssumeRoleWithWebIdentity, which SDKs send
  unsigned (the token is the credential), and fails with a 500;
- it hands out credentials for any role ARN, whatever the role's trust policy says.
`WebIdentityGate` sits in front of moto's own WSGI app and does STS's part: the role must exist
and trust the token's issuer (an OIDC provider registered in IAM), subject and audience, or the
answer is STS's 403 AccessDenied. The JWT signature is not verified (no cluster key here).

Run it as a process:  python -m tests.support.irsa --port 5000
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import requests

from dev import irsa

from .processes import ServerProcess, free_port
from .s3 import S3Endpoint

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _claims(token: str) -> dict[str, Any]:
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def trusted(role_policy: dict[str, Any], claims: dict[str, Any], providers: set[str]) -> bool:
    """Does a role's trust policy let this token's subject assume it (StringEquals only)?"""
    issuer = str(claims.get("iss", "")).removeprefix("https://")
    audiences = claims.get("aud", [])
    audiences = [audiences] if isinstance(audiences, str) else list(audiences)
    for statement in role_policy.get("Statement", []):
        federated = statement.get("Principal", {}).get("Federated")
        if statement.get("Effect") != "Allow" or federated not in providers:
            continue
        if not str(federated).endswith(f":oidc-provider/{issuer}"):
            continue
        actions = statement.get("Action") or []
        actions = [actions] if isinstance(actions, str) else actions
        if "sts:AssumeRoleWithWebIdentity" not in actions:
            continue
        wanted = statement.get("Condition", {}).get("StringEquals", {})
        if wanted.get(f"{issuer}:sub", claims.get("sub")) != claims.get("sub"):
            continue
        if f"{issuer}:aud" in wanted and wanted[f"{issuer}:aud"] not in audiences:
            continue
        return True
    return False


def _access_denied(start_response: StartResponse, message: str) -> list[bytes]:
    body = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
        f"<Type>Sender</Type><Code>AccessDenied</Code><Message>{message}</Message>"
        "</Error><RequestId>nexus-irsa-gate</RequestId></ErrorResponse>"
    ).encode()
    start_response(
        "403 Forbidden", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))]
    )
    return [body]


class WebIdentityGate:
    """STS's checks for AssumeRoleWithWebIdentity in front of moto; everything else passes."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        form = parse_qs(body.decode("utf-8", "replace"))
        if form.get("Action") != ["AssumeRoleWithWebIdentity"]:
            return self.app(environ, start_response)
        role_arn = form.get("RoleArn", [""])[0]
        denied = f"Not authorized to perform sts:AssumeRoleWithWebIdentity on {role_arn}"
        from moto.iam.models import iam_backends

        iam = iam_backends[irsa.ACCOUNT]["aws"]
        try:
            role = iam.get_role_by_arn(role_arn)
        except Exception:  # moto's NotFound: no such role
            return _access_denied(start_response, denied)
        providers = {str(getattr(p, "arn", p)) for p in iam.list_open_id_connect_providers()}
        claims = _claims(form.get("WebIdentityToken", [""])[0])
        if not trusted(json.loads(role.assume_role_policy_document), claims, providers):
            return _access_denied(start_response, denied)
        return self.app(environ, start_response)


def enforce_iam(url: str) -> None:
    """From now on moto checks every signed request against IAM (moto's reset-auth API)."""
    response = requests.post(f"{url}/moto-api/reset-auth", data=b"0", timeout=30)
    response.raise_for_status()


def start_iam_moto(log_path: Path) -> tuple[ServerProcess, S3Endpoint]:
    """Start the gated moto on a free loopback port; IAM is enforced once `enforce_iam` runs."""
    port = free_port()
    proc = ServerProcess(
        name="moto_server_iam",
        argv=[sys.executable, "-m", "tests.support.irsa", "--port", str(port)],
        log_path=log_path,
        cwd=Path(__file__).resolve().parents[2],
    ).start()
    url = f"http://127.0.0.1:{port}"
    proc.wait_http(f"{url}/moto-api/", timeout=60)
    return proc, S3Endpoint(url=url, log_path=log_path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)

    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import run_simple

    checked = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def authenticate(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        # Unsigned by design (the token is the credential); the gate has checked it.
        if self._get_action() == "AssumeRoleWithWebIdentity":
            return
        checked(self, iam_request_cls, resource)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authenticate  # type: ignore[method-assign]
    app = WebIdentityGate(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
