"""Start real server processes for tests and wait until they answer.

Tests run their servers with the same process runner as `make dev` (dev/procs.py): one log file
per process, its own process group, stopped group-wide so helpers such as CHP never outlive it.
"""

from __future__ import annotations

import os
from pathlib import Path

from dev.poll import PollTimeout, poll_until, poll_until_async
from dev.procs import Child as ServerProcess
from dev.procs import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_OUTPUT = Path(os.environ.get("NEXUS_TEST_OUTPUT", REPO_ROOT / "test-output"))

__all__ = [
    "REPO_ROOT",
    "TEST_OUTPUT",
    "PollTimeout",
    "ServerProcess",
    "free_port",
    "poll_until",
    "poll_until_async",
]
