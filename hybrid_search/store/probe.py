"""Does Milvus answer at a URI, and which Milvus is it: the store half of `hybrid-search doctor`."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybrid_search.errors import HybridSearchError
from hybrid_search.settings import is_lite_uri
from hybrid_search.store.lite_engines import (
    DEFAULT_ENGINE,
    EngineSetting,
    close_lite25,
    lite_version,
    open_lite25,
    resolve_engine,
)
from hybrid_search.store.lite_lock import check_unlocked


@dataclass(frozen=True, slots=True)
class MilvusProbe:
    reachable: bool
    kind: str  # "Milvus Lite" | "Milvus server"
    version: str | None = None
    collections: tuple[str, ...] = ()
    error: str | None = None


def probe_milvus(
    uri: str,
    *,
    token: str | None = None,
    db_name: str | None = None,
    timeout_s: float = 10.0,
    lite_engine: EngineSetting = DEFAULT_ENGINE,
) -> MilvusProbe:
    """Connect once, list the collections and read the version; never raises."""
    lite = is_lite_uri(uri)
    engine = resolve_engine(uri, lite_engine)
    kind = "Milvus Lite" if lite else "Milvus server"
    client: Any = None
    if lite and not Path(uri).expanduser().exists():
        version = lite_version(engine)
        return MilvusProbe(True, kind, version, error="no data yet (the first ingest creates it)")
    target = uri
    try:
        if lite and engine == "2.5":
            target = open_lite25(uri)
        elif lite:
            check_unlocked(uri)
        from hybrid_search.store.connection import milvus_client

        client = milvus_client(target, token, db_name, timeout_s)
        collections = tuple(sorted(client.list_collections()))
        version = lite_version(engine) if lite else str(client.get_server_version())
        return MilvusProbe(True, kind, version, collections)
    except HybridSearchError as exc:
        return MilvusProbe(False, kind, error=exc.message)
    except Exception as exc:
        return MilvusProbe(False, kind, error=f"{type(exc).__name__}: {exc}")
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        if lite and target != uri:
            close_lite25(uri)
