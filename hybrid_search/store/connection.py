"""One MilvusClient and the way every call goes through it: retries of transient errors, a
released collection loaded again, and every pymilvus exception turned into a StoreError."""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Callable
from functools import partial
from typing import Any, TypedDict, TypeVar

from hybrid_search.errors import HybridSearchError, StoreError, StoreUnavailableError
from hybrid_search.retry import RetryCounter, call_with_retry, is_transient, needs_reload
from hybrid_search.settings import RetrySettings, ensure_parent_dir, is_lite_uri, redact_uri
from hybrid_search.store.lite_engines import (
    DEFAULT_ENGINE,
    FULL,
    LITE_25,
    Capabilities,
    EngineSetting,
    LiteEngine,
    close_lite25,
    open_lite25,
    resolve_engine,
)
from hybrid_search.store.lite_lock import check_unlocked, served_address

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Milvus caps offset + limit of one query (and the limit of one search) at 16384 rows
QUERY_CAP = 16_384


def _quiet_jieba() -> None:
    """Milvus Lite's Chinese analyzer runs jieba in this process, and jieba sets its own logger
    to DEBUG on import: its dictionary-loading chatter would land in CLI output."""
    with contextlib.suppress(ImportError):  # the analyzer then fails with Milvus' own message
        import jieba

        jieba.setLogLevel(logging.WARNING)


def milvus_client(uri: str, token: str | None, db_name: str | None, timeout_s: float | None) -> Any:
    """A MilvusClient, pymilvus told that no scipy matrix can occur: it imports scipy.sparse
    (0.15 s) at a process's first search only to ask, and this package passes lists and dicts."""
    import pymilvus

    helper = getattr(sys.modules.get("pymilvus.client.utils"), "SciPyHelper", None)
    if helper is not None:
        helper._checked = True
    kwargs: dict[str, Any] = {"uri": uri}
    if token:
        kwargs["token"] = token
    if db_name:
        kwargs["db_name"] = db_name
    if timeout_s is not None and not is_lite_uri(uri):
        kwargs["timeout"] = timeout_s
    return pymilvus.MilvusClient(**kwargs)


class ConnectOptions(TypedDict, total=False):
    """`MilvusConnection`'s keyword options, for the classes that pass them on."""

    token: str | None
    db_name: str | None
    retry: RetrySettings | None
    timeout_s: float | None
    lite_engine: EngineSetting


class MilvusConnection:
    """One MilvusClient shared by all threads (its gRPC channel is thread-safe)."""

    def __init__(
        self,
        uri: str,
        *,
        token: str | None = None,
        db_name: str | None = None,
        retry: RetrySettings | None = None,
        timeout_s: float | None = 60.0,
        lite_engine: EngineSetting = DEFAULT_ENGINE,
    ) -> None:
        #: for logs and error texts: credentials and query parameters redacted; the raw URI
        #: only ever reaches MilvusClient
        self.uri = redact_uri(uri)
        self.is_lite = is_lite_uri(uri)
        self.retry = retry or RetrySettings()
        self.retries = RetryCounter()
        self._loaded: set[str] = set()
        self._lock = threading.RLock()
        self._shared_lite: bool | None = None
        target = uri
        #: the Milvus Lite 2.5 file this connection started (or shares) a server for
        self._embedded: str | None = None
        #: a `serve`'s Milvus child, which other processes share
        self.address: str | None = None
        #: the Milvus Lite engine of this file (None: a Milvus server)
        self.engine: LiteEngine | None = None
        if self.is_lite:
            ensure_parent_dir(uri)
            _quiet_jieba()
            self.engine = resolve_engine(uri, lite_engine)
            self.address = served_address(uri)
            if self.address is not None:
                target = self.address
            elif self.engine == "2.5":
                target = self.call(lambda: open_lite25(uri), f"start Milvus Lite 2.5 for {uri}")
                self._embedded = uri
            else:
                check_unlocked(uri)  # one line naming the holder, not milvus_lite's traceback
        self.caps: Capabilities = LITE_25 if self.engine == "2.5" else FULL
        self.client: Any = self.call(
            lambda: milvus_client(target, token, db_name, timeout_s), f"connect {self.uri}"
        )

    def call(self, fn: Callable[[], T], what: str) -> T:
        try:
            try:
                return call_with_retry(fn, self.retry, what=what, counter=self.retries)
            except Exception as exc:
                if not needs_reload(exc) or not self._reload_loaded():
                    raise
                return call_with_retry(fn, self.retry, what=what, counter=self.retries)
        except HybridSearchError:
            raise
        except Exception as exc:
            if is_transient(exc):
                raise StoreUnavailableError(
                    f"Milvus at {self.uri} unavailable: {what}: {exc}"
                ) from exc
            raise StoreError(f"Milvus call failed: {what}: {exc}") from exc

    def _reload_loaded(self) -> bool:
        """Load again what this client had loaded: a restarted Milvus Lite server comes back
        with every collection released (standalone and cluster reload by themselves)."""
        with self._lock:
            names = sorted(self._loaded)
        for name in names:
            call_with_retry(
                partial(self.client.load_collection, name),
                self.retry,
                what=f"reload {name}",
                counter=self.retries,
            )
        logger.warning("reloaded %d released collections: %s", len(names), names)
        return bool(names)

    def load(self, name: str) -> None:
        """Load `name` now, even if this client loaded it before (the server may have not)."""
        self.call(lambda: self.client.load_collection(name), f"load {name}")
        with self._lock:
            self._loaded.add(name)

    def ensure_loaded(self, name: str) -> None:
        """Reopened collections must be loaded before search (Lite and server alike)."""
        if name not in self._loaded:
            with self._lock:
                if name not in self._loaded:
                    self.load(name)

    def forget(self, name: str) -> None:
        with self._lock:
            self._loaded.discard(name)

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # closing a dead connection is not an error worth raising
            logger.debug("close failed", exc_info=True)
        if self._embedded is not None:
            close_lite25(self._embedded)
            self._embedded = None

    def ping(self) -> None:
        self.call(lambda: self.client.list_collections(), "list collections")

    def has_collection(self, name: str) -> bool:
        return bool(self.call(lambda: self.client.has_collection(name), f"has {name}"))

    def load_state(self, name: str) -> str:
        state = self.call(lambda: self.client.get_load_state(name), f"load state of {name}")
        return str(state.get("state", ""))

    def shared_lite_server(self) -> bool:
        """A Milvus Lite server, which other clients search while this one writes: `serve`'s
        child or a `milvus-lite server` (it reports "milvus_lite-<version>")."""
        if self._shared_lite is None:
            served = not self.is_lite or self.address is not None
            self._shared_lite = served and self._server_version().startswith("milvus_lite")
        return self._shared_lite

    def _server_version(self) -> str:
        try:
            return str(self.client.get_server_version())
        except Exception:  # version is informative only; older servers lack the call
            logger.debug("get_server_version failed", exc_info=True)
            return "unknown version"

    def deployment(self) -> str:
        if self.is_lite:
            return f"Milvus Lite at {self.uri}" + (
                f" through {self.address}" if self.address else ""
            )
        return f"Milvus server {self._server_version()} at {self.uri}"

    def flush(self, name: str) -> None:
        self.call(lambda: self.client.flush(name), f"flush {name}")
