"""Local hub: `jupyterhub -f hub_config/jupyterhub_config.py` (settings: NEXUS_* variables).

The same hub configuration the z2jh hub runs, with SimpleLocalProcessSpawner in place of
KubeSpawner and directories under NEXUS_STATE_DIR in place of EFS. See docs/hub.md.
"""

from typing import Any

from hub_config.config import configure_local
from hub_config.settings import load_settings

c: Any = get_config()  # type: ignore[name-defined]  # noqa: F821 - provided by jupyterhub

configure_local(c, load_settings())
