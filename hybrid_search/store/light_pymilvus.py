"""pymilvus, told that no scipy matrix can occur.

pymilvus imports scipy.sparse (0.15 s) at a process's first search only to ask whether the
query is a scipy matrix; this package passes lists and dicts, so the answer is fixed.
"""

from __future__ import annotations

import importlib
import sys
import types


def import_pymilvus() -> types.ModuleType:
    module = importlib.import_module("pymilvus")
    helper = getattr(sys.modules.get("pymilvus.client.utils"), "SciPyHelper", None)
    if helper is not None:
        helper._checked = True  # its answer stays "no scipy matrix can occur"
    return module
