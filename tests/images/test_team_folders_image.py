"""The user image starts lab servers with umask 0002 (team folders stay group-writable): a hook
docker-stacks' start.sh sources just before it starts the server (issue 17 part 2)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.images.test_dockerfiles import instructions
from tests.support.processes import REPO_ROOT

HOOKS = Path("/usr/local/bin/before-notebook.d")


def test_the_user_image_installs_the_umask_hook_as_a_sourced_script() -> None:
    copies = [c.split() for c in instructions("user", "COPY")]
    (hook,) = [
        (Path(src), Path(dest))
        for src, dest in copies
        if Path(dest).parent == HOOKS and "umask" in dest
    ]
    source, dest = hook
    # start.sh runs executables in a subshell but sources *.sh: only a sourced umask lasts.
    assert dest.suffix == ".sh"
    assert (REPO_ROOT / source).is_file()


def test_sourcing_the_hook_sets_umask_0002_for_what_the_shell_starts(tmp_path: Path) -> None:
    hook = REPO_ROOT / "images" / "user" / "nexus-umask.sh"
    made = tmp_path / "made"
    script = f"umask 0077; . {hook}; mkdir {made}; touch {made}/file; umask"
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0002"
    assert made.stat().st_mode & 0o777 == 0o775
    assert (made / "file").stat().st_mode & 0o777 == 0o664
