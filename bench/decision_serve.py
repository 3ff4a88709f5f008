"""One quota-service process for bench/decision_profile.py: the service's own app under
uvicorn (one process, uvloop and httptools as `nexus-quota serve` picks them), from the code
at `--code` (a git worktree of an older commit, or this checkout), profiled on demand.

    python -m bench.decision_serve --code DIR --port P --out FILE

SIGUSR1 starts pyinstrument and the statement counter; SIGUSR2 stops them and writes FILE
(JSON: the profile's frames by category, statements per endpoint, requests per endpoint).
Only the module's first lines may run before `--code` is put first on sys.path.
"""

import sys

if __name__ == "__main__":
    sys.path.insert(0, sys.argv[sys.argv.index("--code") + 1])

import argparse
import contextvars
import json
import signal
from collections import Counter
from pathlib import Path
from typing import Any

# What each category's frames look like (file paths), checked from the sampled frame outwards:
# the innermost frame that matches names where that sample's CPU went.
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("hub token look-up (auth.py, deps.py)", ("quota_service/auth.py", "handlers/deps.py")),
    ("logging", ("/logging/",)),
    ("metrics (prometheus_client)", ("prometheus_client",)),
    ("pydantic validation + serialisation", ("pydantic", "fastapi/_compat", "encoders.py")),
    ("database driver (asyncpg)", ("asyncpg",)),
    ("SQLAlchemy (ORM)", ("sqlalchemy/orm",)),
    ("SQLAlchemy (Core, engine, pool)", ("sqlalchemy/",)),
    ("greenlet hand-off", ("greenlet",)),
    ("FastAPI / Starlette routing", ("fastapi/", "starlette/")),
    ("HTTP server (uvicorn, httptools)", ("uvicorn/", "httptools")),
    ("event loop (asyncio, uvloop)", ("asyncio/", "uvloop")),
    ("quota service code", ("quota_service/",)),
]
IDLE_FUNCTIONS = {"run_until_complete", "run_forever", "run", "select", "_run_once"}


def categorise(root: Any, flat: Counter[str] | None = None) -> dict[str, float]:
    """Self time (s) of every sampled frame, by the innermost frame's category (and, into
    `flat`, by function)."""
    totals: Counter[str] = Counter()

    def walk(frame: Any, stack: list[str]) -> None:
        path = frame.file_path or ""
        stack.append(path)
        self_time = frame.total_self_time
        if self_time:
            totals[_category(frame, stack)] += self_time
            if flat is not None:
                short = "/".join(path.split("/")[-2:])
                flat[f"{frame.function} {short}:{frame.line_no}"] += self_time
        for child in frame.children:
            if not child.is_synthetic:  # "[self]" frames: counted in total_self_time
                walk(child, stack)
        stack.pop()

    walk(root, [])
    return dict(totals)


def _category(frame: Any, stack: list[str]) -> str:
    # Waiting with nothing to run: the loop's own select, reached from asyncio.run/uvicorn.
    if frame.function in IDLE_FUNCTIONS and not any("quota_service" in p for p in stack):
        if any(p.endswith(("asyncio/runners.py", "asyncio/base_events.py")) for p in stack[-2:]):
            return "idle (waiting for sockets)"
    for path in reversed(stack):
        for name, needles in CATEGORIES:
            if any(n in path for n in needles):
                return name
    return "other"


def main() -> None:
    import pyinstrument
    import uvicorn
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    import quota_service
    from quota_service.app import create_app
    from quota_service.config import load_settings

    parser = argparse.ArgumentParser()
    parser.add_argument("--code", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    code_dir = Path(quota_service.__file__).resolve().parent.parent
    assert code_dir == Path(args.code).resolve(), f"imported {code_dir}, not {args.code}"

    path_var: contextvars.ContextVar[str] = contextvars.ContextVar("path", default="?")
    state: dict[str, Any] = {"on": False, "statements": Counter(), "requests": Counter()}

    @event.listens_for(Engine, "before_cursor_execute")
    def count(*_: Any) -> None:
        if state["on"]:
            state["statements"][path_var.get()] += 1

    app = create_app(load_settings())

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = scope["path"].rsplit("/", 2)
            path_var.set("/".join(path[-2:]))
            if state["on"]:
                state["requests"][path_var.get()] += 1
        await app(scope, receive, send)

    profiler = pyinstrument.Profiler(interval=0.0005, async_mode="disabled")

    def start(*_: Any) -> None:
        state["on"] = True
        profiler.start()

    def stop(*_: Any) -> None:
        session = profiler.stop()
        flat: Counter[str] = Counter()
        state["on"] = False
        result = {
            "code": str(code_dir),
            "profile_seconds": session.duration,
            "samples": session.sample_count,
            "by_category_s": categorise(session.root_frame(), flat),
            "top_functions_s": {k: round(v, 4) for k, v in flat.most_common(40)},
            "statements": dict(state["statements"]),
            "requests": dict(state["requests"]),
        }
        args.out.write_text(json.dumps(result, indent=2))
        args.out.with_suffix(".txt").write_text(
            profiler.output_text(unicode=True, show_all=False, short_mode=False)
        )

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    uvicorn.run(counted, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
