"""The side-by-side table of bench/compare.py as Markdown, kept between two markers of
docs/benchmarks.md so that the prose around it stays as written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

BEGIN = "<!-- bench-compare: begin (written by bench/compare.py) -->"
END = "<!-- bench-compare: end -->"
NAMES = {
    "decisions": "spawn decisions (bench.decision_latency)",
    "scan": "storage scan (bench.storage_scan)",
    "purge": "purge execute (bench.storage_purge)",
    "spawn": "spawn hook (bench/spawn_hook.py)",
    "signin": "sign-in (bench.signin)",
    "streaming": "S3 streaming (bench.streaming)",
}


def _num(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "bytes":
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"


def _change(row: dict[str, Any]) -> str:
    ratio = row["ratio"]
    if ratio is None:
        return "—"
    if ratio == 1:
        return "same"
    worse = ratio > 1 if row["better"] == "lower" else ratio < 1
    return f"{(ratio - 1) * 100:+.1f} % ({'worse' if worse else 'better'})"


def render(result: dict[str, Any]) -> str:
    base, head = result["trees"]["base"], result["trees"]["head"]
    lines = [
        BEGIN,
        "",
        f"Measured {result['started']} to {result['finished']} on {result['machine']['cpus']} "
        f"CPUs (`{result['machine']['uname']}`), with:",
        "",
        "```",
        result["command"],
        "```",
        "",
        f"- base: `{base['sha'][:10]}` ({base['rev']}) {base['subject']}",
        f"- head: `{head['sha'][:10]}` ({head['rev']}) {head['subject']}",
        f"- load: `{result['uptime_start']}` at the start, `{result['uptime_end']}` at the end",
        *(f"- {note}" for note in result["notes"]),
        "",
        "| benchmark | figure | unit | base | head | head / base | change |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for row in result["figures"]:
        lines.append(
            f"| {NAMES.get(row['bench'], row['bench'])} | {row['figure']} | {row['unit']} | "
            f"{_num(row['base'], row['unit'])} | {_num(row['head'], row['unit'])} | "
            f"{row['ratio'] if row['ratio'] is not None else '—'} | {_change(row)} |"
        )
    lines += [
        "",
        "Runs (each benchmark's rounds in order; load = 1-minute load average before → after):",
        "",
        "| benchmark | round | tree | seconds | load | result |",
        "|---|---:|---|---:|---|---|",
    ]
    for run in result["runs"]:
        load = f"{run['load_before'][0]:.2f} → {run['load_after'][0]:.2f}"
        status = "ok" if run["ok"] else run["error"]
        lines.append(
            f"| {run['bench']} | {run['round']} | {run['side']} | {run['seconds']:.0f} | {load} | "
            f"{status} |"
        )
    lines += ["", END]
    return "\n".join(lines) + "\n"


def write_doc(path: Path, section: str) -> None:
    """Put `section` between the markers of `path` (a new file holds only the section)."""
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        text = before + section.rstrip("\n") + after
    else:
        text = text + ("\n" if text else "") + section
    path.write_text(text)
