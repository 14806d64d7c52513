"""pymilvus without the pandas and scipy it would load for inputs this package never gives it.

pymilvus loads scipy.sparse (0.15 s) at a process's first search to ask whether the query is a
scipy matrix: this package passes lists and dicts only, so it is told none can occur.

pandas (a third of a second) is imported only when something calls into it. pymilvus imports it
at the top of its ORM modules only to accept DataFrames, and pyarrow (Milvus Lite's storage) at
its first dataset read only to recognise pandas objects; neither is handed one here. Where
`enabled` (the CLI sets it for its own process), pandas is a stand-in while pymilvus imports:
its functions import the real pandas when called, and nothing is an instance of its classes
until pandas is loaded; pyarrow's and Milvus Lite's own imports of pandas find none until then.
Any other importer gets pandas as ever.
"""

from __future__ import annotations

import importlib
import sys
import threading
import types
from typing import Any

_NAMES = ("pandas", "pandas.api", "pandas.api.types")
#: whose imports of pandas are deferred (pyarrow imports it from C, under a Python frame of these)
_DEFERRED_FOR = ("/pyarrow/", "/milvus_lite/")
_lock = threading.Lock()

#: set by the CLI for its own process; a program embedding the library keeps the plain import
enabled = False


class _Absent(type):
    """A pandas class: nothing is an instance of it while pandas is not loaded."""

    def __instancecheck__(cls, obj: Any) -> bool:
        real = sys.modules.get(cls.__module__)
        if real is None or isinstance(real, _Stand):
            return False
        return isinstance(obj, getattr(real, cls.__name__))


class _Stand(types.ModuleType):
    """A pandas module for pymilvus to import: the real one is imported when it is used."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name[:1].isupper():  # `isinstance(data, pd.DataFrame)`, annotations
            return _Absent(name, (), {"__module__": self.__name__})

        def call(*args: Any, **kwargs: Any) -> Any:  # `from pandas.api.types import is_scalar`
            _Finder.deferring = False
            _unstand()
            return getattr(importlib.import_module(self.__name__), name)(*args, **kwargs)

        return call


def _unstand() -> None:
    with _lock:
        for n in _NAMES:
            if isinstance(sys.modules.get(n), _Stand):
                del sys.modules[n]


class _Finder:
    """Refuses pandas to pyarrow and Milvus Lite until something else has loaded it."""

    deferring = True

    def find_spec(self, name: str, *_: Any) -> None:
        if name != "pandas" or not self.deferring:
            return None
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_filename.startswith("<frozen"):
            frame = frame.f_back  # type: ignore[assignment]
        if frame is not None and any(d in frame.f_code.co_filename for d in _DEFERRED_FOR):
            raise ImportError(
                "pandas is deferred in this process (hybrid_search.store.light_pymilvus)"
            )
        _Finder.deferring = False  # someone else wants pandas: everyone gets it from now on
        return None


def import_pymilvus() -> types.ModuleType:
    """pymilvus, imported as the module docstring says."""
    if not enabled or "pandas" in sys.modules or "pymilvus" in sys.modules:
        return _no_scipy(importlib.import_module("pymilvus"))
    sys.meta_path.insert(0, _Finder())
    with _lock:
        sys.modules.update({n: _Stand(n) for n in _NAMES})
    try:
        module = importlib.import_module("pymilvus")
    except Exception:  # a pymilvus that uses pandas while it imports: the plain import
        for n in [m for m in sys.modules if m.split(".")[0] == "pymilvus"]:
            del sys.modules[n]
        _unstand()
        _Finder.deferring = False
        module = importlib.import_module("pymilvus")
    _unstand()  # whoever imports pandas from now on gets the real one (pyarrow: see _Finder)
    return _no_scipy(module)


def _no_scipy(module: types.ModuleType) -> types.ModuleType:
    helper = getattr(sys.modules.get("pymilvus.client.utils"), "SciPyHelper", None)
    if helper is not None:
        helper._checked = True  # its answer stays "no scipy matrix can occur"
    return module
