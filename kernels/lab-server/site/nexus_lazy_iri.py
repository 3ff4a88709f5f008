"""Build rfc3987-syntax's IRI grammar on first use, not at the lab server's start.

jupyter-server imports jupyter_events, which imports jsonschema's format checkers, which import
`rfc3987_syntax`. That package compiles about 35 Lark Earley parsers when imported: 1.7 s of CPU
on this project's dev machines, the largest single cost of a JupyterLab server's start-up
(docs/performance.md, "Sign-in: where the time goes"). No schema the server validates uses the
"iri" formats, so the parsers are rarely needed at all.

Installed into the lab server environment only (kernels/install.sh lab-server), started by
nexus_lazy_iri.pth. It registers an import finder for the one package name `rfc3987_syntax`: the
package is created as usual (its real __path__), but its __init__ is not run; its names are
looked up in the real `rfc3987_syntax.syntax_helpers` on first access, which builds the grammar
then. So `from rfc3987_syntax import is_valid_syntax` (what jsonschema does) costs nothing, and
a call validates exactly as before. NEXUS_EAGER_IRI_GRAMMAR=1 switches it off (bench/signin.py's
baseline).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

PACKAGE = "rfc3987_syntax"
HELPERS = PACKAGE + ".syntax_helpers"


def _helpers() -> ModuleType:
    return importlib.import_module(HELPERS)


def is_valid_syntax(term: str, value: str) -> bool:
    return bool(_helpers().is_valid_syntax(term, value))


def _module_getattr(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        return getattr(_helpers(), name)
    except AttributeError:
        raise AttributeError(f"module {PACKAGE!r} has no attribute {name!r}") from None


class _DeferredInit(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        module.is_valid_syntax = is_valid_syntax  # type: ignore[attr-defined]
        module.__getattr__ = _module_getattr  # type: ignore[attr-defined]


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != PACKAGE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.submodule_search_locations is None:
            return None
        spec.loader = _DeferredInit()
        return spec


def install() -> None:
    if os.environ.get("NEXUS_EAGER_IRI_GRAMMAR") == "1":
        return
    if PACKAGE in sys.modules or any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _Finder())
