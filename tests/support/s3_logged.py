"""moto's S3 server with a server-side request log: what each request asked for and what it got.

The streaming benchmark and the streaming tests count the bytes the *server* sent, not what the
client thinks it read. This module runs moto's own WSGI application (the one `moto_server` runs)
inside a small middleware that writes one JSON line per request: method, path, the `Range` header,
status and the number of body bytes sent back.

Run it as a process:

    python -m tests.support.s3_logged --port 5000 --request-log requests.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .processes import ServerProcess, free_port
from .s3 import S3Endpoint

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class RequestLogMiddleware:
    """Wrap a WSGI app; append one JSON line per request to `path`."""

    def __init__(self, app: WSGIApp, path: Path) -> None:
        self.app = app
        self.path = path
        self.lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        record: dict[str, Any] = {
            "method": environ.get("REQUEST_METHOD", ""),
            "path": environ.get("PATH_INFO", ""),
            "query": environ.get("QUERY_STRING", ""),
            "range": environ.get("HTTP_RANGE"),
            "status": None,
            "bytes": 0,
        }

        def logging_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            record["status"] = int(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        body = self.app(environ, logging_start_response)
        try:
            for chunk in body:
                record["bytes"] += len(chunk)
                yield chunk
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
            self.write(record)

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True) + "\n"
        with self.lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    range: str | None
    status: int
    bytes: int


class RequestLog:
    """Read the JSON-lines log the server writes; `mark()` then `since(mark)` isolates one read."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def since(self, mark: int = 0) -> list[Request]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as src:
            src.seek(mark)
            lines = src.read().decode("utf-8").splitlines()
        out = []
        for line in lines:
            rec = json.loads(line)
            out.append(
                Request(
                    method=rec["method"],
                    path=rec["path"],
                    range=rec["range"],
                    status=int(rec["status"] or 0),
                    bytes=int(rec["bytes"]),
                )
            )
        return out

    def bytes_for(self, key_suffix: str, mark: int = 0) -> tuple[int, int]:
        """(body bytes sent, GET requests) for objects whose path ends with `key_suffix`."""
        reqs = [r for r in self.since(mark) if r.method == "GET" and r.path.endswith(key_suffix)]
        return sum(r.bytes for r in reqs), len(reqs)


def start_logged_moto(log_dir: Path) -> tuple[ServerProcess, S3Endpoint, RequestLog]:
    """Start the logged moto server on a free loopback port and wait until it answers."""
    port = free_port()
    request_log = log_dir / f"s3-requests-{port}.jsonl"
    request_log.unlink(missing_ok=True)
    proc = ServerProcess(
        name="moto_server_logged",
        argv=[
            sys.executable,
            "-m",
            "tests.support.s3_logged",
            "--port",
            str(port),
            "--request-log",
            str(request_log),
        ],
        log_path=log_dir / f"moto-logged-{port}.log",
        cwd=Path(__file__).resolve().parents[2],
    ).start()
    url = f"http://127.0.0.1:{port}"
    proc.wait_http(f"{url}/moto-api/", timeout=60)
    return proc, S3Endpoint(url=url, log_path=proc.log_path), RequestLog(request_log)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--request-log", type=Path, required=True)
    args = parser.parse_args(argv)

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import run_simple

    app = RequestLogMiddleware(DomainDispatcherApplication(create_backend_app), args.request_log)
    run_simple(args.host, args.port, app, threaded=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
