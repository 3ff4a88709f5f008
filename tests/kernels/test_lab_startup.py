"""The lab server environment's start-up cuts (docs/performance.md, "Sign-in: where the time
goes"), checked in the real .venv-lab that `make kernels` installs:

- nexus_lazy_iri: importing jupyter-server's event validators does not build rfc3987-syntax's
  IRI grammar, and jsonschema's "iri" formats still validate exactly as before;
- the extension manager is the read-only one and the page's build check is off, and the lab
  server applies its settings (no native "python3" kernel of its own);
- the env ships bytecode (compileall at install).
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support.processes import REPO_ROOT

LAB = REPO_ROOT / "kernels" / "lab-server"
LAB_VENV = REPO_ROOT / ".venv-lab"
LAB_PYTHON = LAB_VENV / "bin" / "python"

PROBE = """
import json, sys
import jupyter_events.validators, jsonschema
built_at_import = "rfc3987_syntax.syntax_helpers" in sys.modules
fc = jsonschema.Draft7Validator.FORMAT_CHECKER
checks = {v: fc.conforms(v, "iri") for v in ("https://example.org/caf\\u00e9?q=1", "no scheme", "http://[bad")}
refs = {v: fc.conforms(v, "iri-reference") for v in ("../a/b#c", "a b")}
import rfc3987_syntax
print(json.dumps({
    "built_at_import": built_at_import,
    "built_after_use": "rfc3987_syntax.syntax_helpers" in sys.modules,
    "iri": checks, "iri_reference": refs,
    "helper": rfc3987_syntax.is_valid_syntax_iri("http://x.org/"),
}))
"""


def run_probe(env: dict[str, str] | None = None) -> dict[str, object]:
    if not LAB_PYTHON.exists():
        pytest.fail(f"{LAB_PYTHON} is missing: run `make kernels`")
    proc = subprocess.run(
        [str(LAB_PYTHON), "-c", PROBE], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def test_iri_grammar_is_built_on_first_use_and_validates_as_before() -> None:
    lazy = run_probe()
    assert lazy["built_at_import"] is False
    assert lazy["built_after_use"] is True
    eager = run_probe({"PATH": "/usr/bin:/bin", "NEXUS_EAGER_IRI_GRAMMAR": "1"})
    assert eager["built_at_import"] is True
    # the same answers either way, and the real ones
    for key in ("iri", "iri_reference", "helper"):
        assert lazy[key] == eager[key], key
    assert lazy["iri"] == {
        "https://example.org/caf\u00e9?q=1": True,
        "no scheme": False,
        "http://[bad": False,
    }
    assert lazy["iri_reference"] == {"../a/b#c": True, "a b": False}
    assert lazy["helper"] is True


def test_lab_env_has_the_installed_start_up_settings() -> None:
    etc = LAB_VENV / "etc" / "jupyter"
    installed = json.loads((etc / "jupyter_server_config.json").read_text())
    # jupyter-server reads only jpserver_extensions from the .d folder: nothing else goes there
    assert not (etc / "jupyter_server_config.d" / "nexus-lab.json").exists()
    assert installed == json.loads((LAB / "jupyter_server_config.json").read_text())
    assert installed["LabApp"]["extension_manager"] == "readonly"
    page = json.loads((etc / "labconfig" / "page_config.json").read_text())
    assert page == {"buildAvailable": False, "buildCheck": False}
    site = next((LAB_VENV / "lib").glob("python3.*/site-packages"))
    assert (site / "nexus_lazy_iri.pth").read_text().strip() == (
        (LAB / "site" / "nexus_lazy_iri.pth").read_text().strip()
    )


def test_lab_env_ships_bytecode() -> None:
    site = next((LAB_VENV / "lib").glob("python3.*/site-packages"))
    tag = "cpython-" + site.parent.name.removeprefix("python").replace(".", "")
    for module in ("jupyter_server/serverapp.py", "jupyterlab/labapp.py", "jsonschema/_format.py"):
        src = site / module
        assert (src.parent / "__pycache__" / f"{src.stem}.{tag}.pyc").exists(), module


def test_lab_server_applies_the_env_settings() -> None:
    """jupyter-server's own view: the env's settings are loaded (not only installed)."""
    code = (
        "import json\n"
        "from jupyter_server.serverapp import ServerApp\n"
        "app = ServerApp()\n"
        "app.load_config_file()\n"
        "print(json.dumps({'manager': app.config.LabApp.extension_manager,"
        " 'native': app.config.KernelSpecManager.ensure_native_kernel}))\n"
    )
    proc = subprocess.run(
        [str(LAB_PYTHON), "-c", code], capture_output=True, text=True, check=False, cwd="/tmp"
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {
        "manager": "readonly",
        "native": False,
    }
