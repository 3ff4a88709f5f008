"""kernel-list and kernel-delete: the personal environments kernel-create made; their removal."""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from . import layout
from .layout import BadInput


@dataclass(frozen=True)
class Entry:
    name: str
    display_name: str
    python: str
    env: str
    kernelspec: str
    status: str  # ok | no kernelspec | interpreter missing | environment missing


def entries() -> list[Entry]:
    """Every environment in the kernels folder with a kernel-create marker, and every kernelspec
    kernel-create wrote whose environment is gone."""
    root, spec_root = layout.kernels_root(), layout.kernelspec_root()
    found: dict[str, Entry] = {}
    if root.is_dir():
        for env in sorted(root.iterdir()):
            marker = layout.read_json(env / layout.MARKER)
            if env.name.startswith(".") or env.is_symlink() or marker is None:
                continue
            spec_dir = spec_root / env.name
            spec = layout.read_json(spec_dir / "kernel.json")
            if spec is None:
                status = "no kernelspec"
            elif not os.path.exists(env / "bin" / "python"):
                status = "interpreter missing"
            else:
                status = "ok"
            display = (spec or {}).get("display_name") or marker.get("display_name", env.name)
            found[env.name] = Entry(
                env.name,
                str(display),
                str(marker.get("python", "?")),
                str(env),
                str(spec_dir) if spec else "",
                status,
            )
    if spec_root.is_dir():
        for spec_dir in sorted(spec_root.iterdir()):
            if spec_dir.name in found or not layout.is_personal_spec(spec_dir):
                continue
            spec = layout.read_json(spec_dir / "kernel.json") or {}
            meta = spec["metadata"]["nexus_env"]
            found[spec_dir.name] = Entry(
                spec_dir.name,
                str(spec.get("display_name", spec_dir.name)),
                str(meta.get("python", "?")),
                str(meta.get("env", "")),
                str(spec_dir),
                "environment missing",
            )
    return sorted(found.values(), key=lambda e: e.name)


def as_dicts(items: list[Entry]) -> list[dict[str, str]]:
    return [asdict(item) for item in items]


def table(items: list[Entry]) -> str:
    rows = [("NAME", "PYTHON", "DISPLAY NAME", "STATUS", "ENVIRONMENT")]
    rows += [(e.name, e.python, e.display_name, e.status, e.env) for e in items]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) for row in rows]
    return "\n".join(line + "  " + row[4] for line, row in zip(lines, rows, strict=True))


def delete(name: str, out: TextIO, err: TextIO) -> None:
    layout.check_name(name)
    root, spec_root = layout.kernels_root(), layout.kernelspec_root()
    with layout.locked(root, err):
        layout.sweep_stale(root)
        env, spec_dir = root / name, spec_root / name
        ours_env = layout.read_json(env / layout.MARKER) is not None and not env.is_symlink()
        ours_spec = layout.is_personal_spec(spec_dir)
        if not ours_env and not ours_spec:
            if (spec_dir / "kernel.json").exists() or env.exists() or env.is_symlink():
                where = spec_dir if (spec_dir / "kernel.json").exists() else env
                raise BadInput(
                    f"{name!r} was not made by kernel-create ({where}); kernel-delete removes "
                    f"only personal environments (a kernelspec: jupyter kernelspec remove {name})"
                )
            raise BadInput(f"no personal environment named {name!r} (kernel-list shows them)")
        if ours_spec:
            layout.remove_tree(spec_dir)
        if ours_env:
            # Out of sight first (one rename), then removed; a crash leaves only a .tmp-* folder
            # the next command sweeps away.
            trash = Path(tempfile.mkdtemp(prefix=f"{layout.TMP_PREFIX}delete-{name}-", dir=root))
            os.rename(env, trash / "env")
            layout.remove_tree(trash)
    gone = "" if ours_env else " (its environment was already gone)"
    print(f"deleted {name!r}{gone}", file=out)
