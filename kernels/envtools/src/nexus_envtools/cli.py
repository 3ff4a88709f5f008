"""The three commands. Exit codes: 0 done, 1 could not be made or removed, 2 bad input."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from . import create, manage
from .layout import EnvError

CREATE_EPILOG = """\
examples:
  kernel-create astro                      # Python of the platform kernels
  kernel-create old-code 3.11 "Old code (3.11)"
  kernel-create spectra 3.13 "Spectra" -r requirements.txt -p specutils

The environment goes to ~/.kernels/NAME and its kernel to ~/.local/share/jupyter/kernels/NAME;
both are in your home, so they survive server restarts. Reload JupyterLab to see the kernel."""


def _interrupted(signum: int, _frame: FrameType | None) -> None:
    print(f"interrupted by signal {signum}; cleaning up", file=sys.stderr)
    raise SystemExit(128 + signum)


def _on_signals() -> None:
    """SIGTERM / SIGHUP (server stopped, terminal closed) unwind like Ctrl-C: nothing half-made."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupted)


def _fail(prog: str, exc: EnvError) -> int:
    print(f"{prog}: error: {exc}", file=sys.stderr)
    return exc.exit_code


def create_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kernel-create",
        description="Make a personal Python environment (uv) that shows up as a Jupyter kernel.",
        epilog=CREATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", help="lowercase letters, digits, '-', '_' (the kernel's name)")
    parser.add_argument(
        "python_version",
        nargs="?",
        default=None,
        help="X.Y or X.Y.Z (default: the platform kernels' Python); '' for the default",
    )
    parser.add_argument("display_name", nargs="?", default=None, help="name shown in JupyterLab")
    parser.add_argument(
        "-r",
        "--requirements",
        action="append",
        default=[],
        metavar="FILE",
        help="install the packages listed in FILE (repeatable)",
    )
    parser.add_argument(
        "-p",
        "--package",
        action="append",
        default=[],
        metavar="SPEC",
        help="install this package, e.g. 'astropy>=7' (repeatable)",
    )
    args = parser.parse_args(argv)
    _on_signals()
    try:
        req = create.check_request(
            args.name,
            args.python_version or None,
            args.display_name,
            args.requirements,
            args.package,
        )
        create.create(req, sys.stdout, sys.stderr)
    except EnvError as exc:
        return _fail(parser.prog, exc)
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted; nothing was made", file=sys.stderr)
        return 128 + signal.SIGINT
    return 0


def list_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kernel-list", description="List your personal environments (made by kernel-create)."
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    items = manage.entries()
    if args.json:
        print(json.dumps(manage.as_dicts(items), indent=2))
    elif not items:
        print("no personal environments; make one with: kernel-create NAME [PYTHON] [DISPLAY NAME]")
    else:
        print(manage.table(items))
    return 0


def delete_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kernel-delete",
        description="Delete a personal environment and its kernel (made by kernel-create).",
    )
    parser.add_argument("name")
    args = parser.parse_args(argv)
    _on_signals()
    try:
        manage.delete(args.name, sys.stdout, sys.stderr)
    except EnvError as exc:
        return _fail(parser.prog, exc)
    return 0
