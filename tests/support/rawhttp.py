"""Send a large request body over a raw socket and see how much of it went before the answer.

    answer = send_large_body("127.0.0.1", port, "POST", "/path", {...}, size=64 << 20)
    answer.status, answer.sent     # sent: body bytes handed to the socket when it arrived

A server that answers before reading the body answers while the client is still sending, and
then `sent` stays far below `size` (what the kernel buffers on both sides, a few MiB on
loopback). One that reads the whole body first answers only after all of it went.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
from dataclasses import dataclass
from pathlib import Path

PIECE = 64 * 1024


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    sent: int


def _parse(raw: bytes) -> Answer | None:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "-1"))
    if length >= 0 and len(body) < length:
        return None
    return Answer(int(lines[0].split()[1]), headers, body[: max(length, 0)], 0)


def send_large_body(
    host: str,
    port: int,
    method: str,
    path: str,
    headers: dict[str, str],
    *,
    size: int,
    chunked: bool,
    timeout: float = 120.0,
) -> Answer:
    """Send `size` bytes of body (`Content-Length`, or chunked) while watching for the answer;
    stop sending as soon as a complete answer is in."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    piece = b"x" * PIECE
    sent = 0
    outgoing = head
    received = b""
    closed = False
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.setblocking(False)
        while True:
            writing = not closed and (bool(outgoing) or sent < size)
            readable, writable, _ = select.select([sock], [sock] if writing else [], [], timeout)
            if not readable and not writable:
                raise AssertionError(f"no answer after {timeout} s ({sent} body bytes sent)")
            if readable:
                try:
                    data = sock.recv(1 << 16)
                except ConnectionResetError:
                    data = b""
                received += data
                answer = _parse(received)
                if answer is not None:
                    answer.sent = sent
                    return answer
                if not data:
                    raise AssertionError(f"connection closed without an answer: {received!r}")
                continue
            if not outgoing:
                n = min(PIECE, size - sent)
                framed = piece[:n]
                if chunked:
                    framed = f"{n:x}\r\n".encode() + framed + b"\r\n"
                    if sent + n >= size:
                        framed += b"0\r\n\r\n"
                outgoing = framed
                sent += n
            try:
                done = sock.send(outgoing)
            except (BrokenPipeError, ConnectionResetError):
                closed = True  # the server is gone; only an answer already sent can come
                continue
            outgoing = outgoing[done:]


def _family(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                pids += _family(int(child))
    return pids


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def reset_peak_memory(pid: int) -> dict[int, int]:
    """Reset the peak RSS (VmHWM) of `pid` and its descendants; returns each one's RSS."""
    out = {}
    for p in _family(pid):
        fd = os.open(f"/proc/{p}/clear_refs", os.O_WRONLY)
        try:
            os.write(fd, b"5")
        finally:
            os.close(fd)
        out[p] = _status(p, "VmRSS")
    return out


def peak_growth(before: dict[int, int]) -> int:
    """The largest growth of peak RSS over the RSS `reset_peak_memory` saw, in bytes."""
    return max(_status(p, "VmHWM") - rss for p, rss in before.items())
