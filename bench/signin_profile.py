"""Where a sign-in's time goes: the browser's phases, the hub's log, the page's resources.

bench/signin.py times each run in the browser (Playwright) and reads, after the run, the lines
the run added to the hub's log (the hub, the spawn hook and the lab server all write there in
`make dev`). The two are on the same clock (this machine's), so the log's timestamps place the
hub's and the lab server's steps inside the browser's phases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# "[I 2026-12-07 05:11:19.213 ServerApp] ..." (the lab server, jupyter's log format) and
# "[I 2026-12-07 05:11:19.213 JupyterHub app:123] ..." (the hub).
LINE = re.compile(
    r"^\[(?P<lvl>[DIWEC]) (?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) (?P<src>[^\]]*)\]"
)

# (name, pattern): the first line matching each, after the run's start, is that step's time.
STEPS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("hub_login_done", re.compile(r"User logged in: ")),
    ("spawn_requested", re.compile(r"Spawning server|requesting spawn|Spawning")),
    ("lab_first_log", re.compile(r"(ServerApp|SingleUserLabApp|LabApp)\]")),
    ("lab_extensions_linked", re.compile(r"jupyterlab \| extension was successfully linked")),
    ("lab_extensions_loaded", re.compile(r"jupyterlab \| extension was successfully loaded")),
    ("lab_listening", re.compile(r"Jupyter Server [\d.]+ is running at")),
    ("hub_saw_server", re.compile(r"User \S+ took [\d.]+ seconds to start")),
    ("lab_oauth_callback", re.compile(r"/user/[^/]+/oauth_callback")),
    ("lab_page_served", re.compile(r"GET /user/[^/]+/lab\b")),
    ("lab_settings_served", re.compile(r"GET /user/[^/]+/lab/api/settings")),
    ("lab_workspace_served", re.compile(r"GET /user/[^/]+/lab/api/workspaces")),
)
TOOK = re.compile(r"User \S+ took (?P<s>[\d.]+) seconds to start")
IMPORT = re.compile(r"Extension package (?P<pkg>\S+) took (?P<s>[\d.]+)s to import")


def _stamp(ts: str) -> float:
    return datetime.strptime(ts, "%Y-%m-%d %H:%M:%S.%f").timestamp()


def log_steps(text: str, since: float) -> dict[str, Any]:
    """Seconds from `since` (epoch) to each step's first log line at or after it."""
    found: dict[str, float] = {}
    imports: dict[str, float] = {}
    took: float | None = None
    for line in text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        t = _stamp(m["ts"])
        if t < since - 0.001:
            continue
        for name, pat in STEPS:
            if name not in found and pat.search(line):
                found[name] = round(t - since, 3)
        if took is None and (tm := TOOK.search(line)):
            took = float(tm["s"])
        if im := IMPORT.search(line):
            imports[im["pkg"]] = float(im["s"])
    return {"steps": found, "hub_took_seconds": took, "slow_imports": imports}


@dataclass
class Phases:
    """Browser-side marks (seconds since the run's start)."""

    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str, start: float, now: float) -> None:
        self.marks[name] = round(now - start, 3)


# The lab page's own view of its load: navigation timing and every resource it fetched.
PAGE_TIMING_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const res = performance.getEntriesByType('resource');
  const api = (part) => res.filter(r => r.name.includes(part))
                           .map(r => Math.round(r.responseEnd));
  const sum = (xs) => xs.reduce((a, b) => a + b, 0);
  return {
    html_response_end_ms: nav ? Math.round(nav.responseEnd) : null,
    dom_content_loaded_ms: nav ? Math.round(nav.domContentLoadedEventEnd) : null,
    resources: res.length,
    scripts: res.filter(r => r.initiatorType === 'script').length,
    labextension_files: res.filter(r => r.name.includes('/lab/extensions/')).length,
    transfer_kib: Math.round(sum(res.map(r => r.transferSize || 0)) / 1024),
    body_kib: Math.round(sum(res.map(r => r.decodedBodySize || 0)) / 1024),
    last_resource_end_ms: Math.round(Math.max(0, ...res.map(r => r.responseEnd))),
    settings_end_ms: api('/lab/api/settings'),
    workspaces_end_ms: api('/lab/api/workspaces'),
    kernelspecs_end_ms: api('/api/kernelspecs'),
  };
}"""
