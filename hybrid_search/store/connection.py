"""One MilvusClient and the way every call goes through it: retries, reloads, one error type.

Every call goes through `MilvusConnection.call` (`call_with_retry`, transient errors only; a
collection found released is loaded again and the call repeated); every pymilvus exception
leaves this package as a StoreError.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypedDict, TypeVar

from hybrid_search.errors import HybridSearchError, StoreError, StoreUnavailableError
from hybrid_search.retry import RetryCounter, call_with_retry, is_transient, needs_reload
from hybrid_search.settings import RetrySettings, ensure_parent_dir, is_lite_uri, redact_uri
from hybrid_search.store.lite_lock import check_unlocked, served_address

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Milvus caps offset + limit of one query (and the limit of one search) at 16384 rows
QUERY_CAP = 16_384


def _quiet_jieba() -> None:
    """Milvus Lite's Chinese analyzer runs jieba in this process, and jieba sets its own logger
    to DEBUG on import: its dictionary-loading chatter would land in CLI output."""
    try:
        import jieba

        jieba.setLogLevel(logging.WARNING)
    except ImportError:  # the analyzer then fails with Milvus' own message
        pass


class ConnectOptions(TypedDict, total=False):
    """`MilvusConnection`'s keyword options, for the classes that pass them on."""

    token: str | None
    db_name: str | None
    retry: RetrySettings | None
    timeout_s: float | None


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
    ) -> None:
        #: for logs and error texts: credentials and query parameters redacted; the raw URI
        #: only ever reaches MilvusClient
        self.uri = redact_uri(uri)
        self.is_lite = is_lite_uri(uri)
        self.retry = retry or RetrySettings()
        self.retries = RetryCounter()
        self._loaded: set[str] = set()
        self._lock = threading.RLock()
        target = uri
        if self.is_lite:
            ensure_parent_dir(uri)
            _quiet_jieba()
            target = served_address(uri) or uri  # a running `serve` shares its Milvus child
            if target == uri:
                check_unlocked(uri)  # one line naming the holder, not milvus_lite's traceback

        def connect() -> Any:
            from hybrid_search.store.light_pymilvus import import_pymilvus

            kwargs: dict[str, Any] = {"uri": target}
            if token:
                kwargs["token"] = token
            if db_name:
                kwargs["db_name"] = db_name
            if timeout_s is not None and not is_lite_uri(target):
                kwargs["timeout"] = timeout_s
            return import_pymilvus().MilvusClient(**kwargs)

        self.address = None if target == uri else target  # a `serve`'s Milvus child
        self.client: Any = self.call(connect, f"connect {self.uri}")

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
            self._load(name)
        logger.warning("reloaded %d released collections: %s", len(names), names)
        return bool(names)

    def _load(self, name: str) -> None:
        call_with_retry(
            lambda: self.client.load_collection(name),
            self.retry,
            what=f"reload {name}",
            counter=self.retries,
        )

    def load(self, name: str) -> None:
        """Load `name` now, even if this client loaded it before (the server may have not)."""
        self.call(lambda: self.client.load_collection(name), f"load {name}")
        with self._lock:
            self._loaded.add(name)

    def ensure_loaded(self, name: str) -> None:
        """Reopened collections must be loaded before search (Lite and server alike)."""
        if name in self._loaded:
            return
        with self._lock:
            if name not in self._loaded:
                self.call(lambda: self.client.load_collection(name), f"load {name}")
                self._loaded.add(name)

    def forget(self, name: str) -> None:
        with self._lock:
            self._loaded.discard(name)

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # closing a dead connection is not an error worth raising
            logger.debug("close failed", exc_info=True)

    def ping(self) -> None:
        self.call(lambda: self.client.list_collections(), "list collections")

    def has_collection(self, name: str) -> bool:
        return bool(self.call(lambda: self.client.has_collection(name), f"has {name}"))

    def load_state(self, name: str) -> str:
        state = self.call(lambda: self.client.get_load_state(name), f"load state of {name}")
        return str(state.get("state", ""))

    def deployment(self) -> str:
        if self.is_lite:
            return f"Milvus Lite at {self.uri}" + (
                f" through {self.address}" if self.address else ""
            )
        try:
            version = str(self.client.get_server_version())
        except Exception:  # version is informative only; older servers lack the call
            logger.debug("get_server_version failed", exc_info=True)
            version = "unknown version"
        return f"Milvus server {version} at {self.uri}"

    def flush(self, name: str) -> None:
        self.call(lambda: self.client.flush(name), f"flush {name}")
