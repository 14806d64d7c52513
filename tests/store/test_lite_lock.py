"""The "file in use" message names the process the user started and can stop: for a Milvus
Lite child (serve's supervised Milvus), its parent, not the child."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from hybrid_search.store.lite_lock import _message


def test_a_milvus_child_is_named_by_the_process_that_started_it() -> None:
    # a stand-in child whose command line reads like milvus_lite's server, started by this process
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "milvus_lite"])
    try:
        cmdline, deadline = Path(f"/proc/{child.pid}/cmdline"), time.monotonic() + 10
        while b"milvus_lite" not in cmdline.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.01)  # until the fork has exec'd: before, it shows this process' command
        message = _message("/data/m.db", child.pid)
    finally:
        child.kill()
        child.wait()
    assert f"in use by process {os.getpid()} (" in message
    assert f"through its Milvus child {child.pid}" in message
    assert "stop that process" in message and "HYBRID_SEARCH_MILVUS_URI" in message
