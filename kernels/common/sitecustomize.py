"""Start-up of a Roman kernel's Python: the user's own packages yes, the base interpreter's no.

A kernel virtualenv is isolated (``include-system-site-packages = false``, and its kernelspec sets
``PYTHONNOUSERSITE=1``): neither the base interpreter's site-packages nor the user's
``~/.local/lib/python3.X/site-packages`` are on ``sys.path``, so a kernel holds exactly its lock
(people's own packages go to kernel-create environments). Should a venv include the base
interpreter's site-packages anyway, they are taken off ``sys.path`` here.

It also keeps botocore's credential-refresh warnings out of notebooks: when the pod's IAM role
cannot be assumed (IRSA), the read raises a clear AccessDenied; the same failure logged again
with a full traceback (a WARNING through logging's last-resort handler) only hides it.
"""

import logging
import os
import site
import sys


def _drop_base_site_packages() -> None:
    if sys.prefix == sys.base_prefix:
        return
    base = {os.path.realpath(p) for p in site.getsitepackages([sys.base_prefix])}
    sys.path[:] = [p for p in sys.path if os.path.realpath(p) not in base]


def _quiet_credential_refresh_warnings() -> None:
    for name in ("botocore.credentials", "aiobotocore.credentials"):
        logging.getLogger(name).setLevel(logging.ERROR)


_drop_base_site_packages()
_quiet_credential_refresh_warnings()
