"""Tenacity retries for transient Milvus errors: the only place retries are made."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    Retrying,
    before_sleep_log,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from hybrid_search.settings import RetrySettings

logger = logging.getLogger(__name__)
T = TypeVar("T")

_TRANSIENT_MARKERS = (
    "unavailable",
    "deadline",
    "timeout",
    "timed out",
    "connect",
    "rate limit",
    "ratelimit",
    "too many requests",
    "socket closed",
    "broken pipe",
    "reset by peer",
    "not ready",
)


def is_transient(exc: BaseException) -> bool:
    """Transient = the same call may succeed later (server restarting, overloaded, network blip).
    Schema, filter and data errors are permanent and never retried."""
    try:
        import grpc

        if isinstance(exc, grpc.RpcError):
            code = exc.code() if callable(getattr(exc, "code", None)) else None
            return code in (
                grpc.StatusCode.UNAVAILABLE,
                grpc.StatusCode.DEADLINE_EXCEEDED,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
            )
    except ImportError:  # pragma: no cover - grpc comes with pymilvus
        pass
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    name = type(exc).__name__
    if name in {"MilvusUnavailableException", "ConnectionNotExistException"}:
        return True
    if name == "MilvusException":
        text = str(exc).lower()
        return any(marker in text for marker in _TRANSIENT_MARKERS)
    return False


#: Milvus' "collection not loaded" status (CollectionNotLoaded)
_NOT_LOADED_CODE = 101
_NOT_LOADED_MARKERS = ("call load()", "not loaded", "state 'released'")


def needs_reload(exc: BaseException) -> bool:
    """The collection is back but released: Milvus Lite's gRPC server forgets which collections
    were loaded when it restarts (standalone and cluster reload them by themselves). Loading it
    again repairs the error; retrying the same call alone never would."""
    for err in (exc, exc.__cause__):
        if err is None:
            continue
        if getattr(err, "code", None) == _NOT_LOADED_CODE:
            return True
        if type(err).__name__ == "MilvusException":
            text = str(err).lower()
            if any(marker in text for marker in _NOT_LOADED_MARKERS):
                return True
    return False


class RetryCounter:
    """Counts retries across threads so the ingest summary can say what it retried."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def add(self) -> None:
        with self._lock:
            self.count += 1


def call_with_retry(
    fn: Callable[[], T],
    settings: RetrySettings,
    *,
    what: str,
    counter: RetryCounter | None = None,
) -> T:
    """Run fn, retrying transient failures with jittered exponential backoff."""

    def _before_sleep(state: object) -> None:
        before_sleep_log(logger, logging.WARNING)(state)  # type: ignore[arg-type]
        if counter is not None:
            counter.add()

    retrying = Retrying(
        retry=retry_if_exception(is_transient),
        stop=stop_after_attempt(settings.attempts),
        wait=wait_exponential_jitter(initial=settings.initial_wait_s, max=settings.max_wait_s),
        before_sleep=_before_sleep,
        reraise=True,
    )
    logger.debug("milvus call: %s", what)
    return retrying(fn)


def call_with_recovery(
    fn: Callable[[], T],
    recover: Callable[[BaseException], bool],
    *,
    attempts: int,
    what: str,
    counter: RetryCounter | None = None,
) -> T:
    """Job-level retry of idempotent work: after a failure that `recover(exc)` repaired (wait
    for Milvus, reload a released collection), `fn` runs again, at most `attempts` times."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt >= attempts or not recover(exc):
                raise
            logger.warning("%s failed (%s); recovered, running it again", what, exc)
            if counter is not None:
                counter.add()
    raise AssertionError("unreachable: the loop returns or raises")
