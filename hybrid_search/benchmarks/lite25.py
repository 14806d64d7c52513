"""(g) Milvus Lite 2.5.1, the last C++ build, as a child process the project's pymilvus talks to.

The wheel's `milvus` binary runs from a directory of its own (`pip download milvus-lite==2.5.1
--no-deps` and unzip; `--scale-lite25 DIR/milvus_lite/lib`), never installed over 3.x: it serves
gRPC on a loopback port and pymilvus 3 connects to it as a server URI. Before (g) could time it,
the project's store has to work there; `probe_lite25` records, call by call, where the two lines
differ (each check's error text as Milvus gives it), so the report says why it was not timed.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hybrid_search.ports import free_port, port_open


def _outcome(fn: Callable[[], Any]) -> str:
    try:
        return f"ok: {fn()}"
    except Exception as exc:  # the probe records every answer, it never stops
        text = " ".join(str(exc).split())
        return f"error: {type(exc).__name__}: {text[:300]}"


def probe_lite25(lib: Path, work: Path) -> dict[str, Any]:
    """Start `lib/milvus` on a free port; try what the project's store needs of it."""
    from pymilvus import DataType, MilvusClient

    from hybrid_search.benchmarks.scale_data import MODEL
    from hybrid_search.store.milvus import MilvusStore
    from schemas.collection import CollectionSpec

    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "LD_LIBRARY_PATH": str(lib)}
    proc = subprocess.Popen(
        [str(lib / "milvus"), str(work / "lite25.db"), f"127.0.0.1:{port}", "ERROR"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    out: dict[str, Any] = {"engine": "milvus-lite 2.5.1", "binary": str(lib / "milvus")}
    try:
        deadline = time.monotonic() + 60
        while not port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                return {**out, "runs": False, "skipped": f"exited {proc.poll()} at start"}
            time.sleep(0.2)
        uri = f"http://127.0.0.1:{port}"
        client: Any = MilvusClient(uri=uri)
        checks = {"list_collections": _outcome(client.list_collections)}
        checks["get_server_version"] = _outcome(client.get_server_version)
        spec = CollectionSpec("probe", 1024, 1024, MODEL, colbert_storage="binary")
        store = MilvusStore(uri)
        checks["store.ensure_collection (HNSW dense index)"] = _outcome(
            lambda: store.ensure_collection(spec)
        )
        store.close()
        s = client.create_schema(auto_id=False)
        s.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=64)
        s.add_field("tenant", DataType.VARCHAR, max_length=64, is_partition_key=True)
        s.add_field("v", DataType.FLOAT_VECTOR, dim=4)
        ip = client.prepare_index_params()
        ip.add_index("v", index_type="FLAT", metric_type="IP")
        client.create_collection("pkey", schema=s, index_params=ip, properties={"meta": "x"})
        client.insert("pkey", [{"pk": "a", "tenant": "t", "v": [0.1, 0.2, 0.3, 0.4]}])
        checks["query with a partition key field"] = _outcome(
            lambda: client.query("pkey", filter='pk in ["a"]', output_fields=["pk"])
        )
        checks["collection properties kept"] = _outcome(
            lambda: client.describe_collection("pkey").get("properties")
        )
        checks["alter_collection_properties"] = _outcome(
            lambda: client.alter_collection_properties("pkey", {"meta": "y"})
        )
        client.close()
        out.update(runs=True, uri_kind="Milvus server URI over gRPC", checks=checks)
        out["skipped"] = (
            "not timed: the project's store needs HNSW, partition-key filters and collection "
            "properties (its recorded spec and saved defaults), which 2.5.1's local mode refuses "
            "or drops (see checks)"
        )
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=30)
