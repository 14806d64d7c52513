"""Time to delete 2,000 documents by ids and by filter (target: at most 5 s each; one request
per document took 156 s). Ingests 2,000 short documents with the tiny models into a temporary
Milvus Lite, deletes them in one `delete_many` call, ingests again, deletes by filter.

    python -m hybrid_search.benchmarks.bulk_delete [N]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    from hybrid_search.deletion import delete_many
    from hybrid_search.encoders.bge_m3 import quiet_transformers
    from hybrid_search.encoders.tiny import build_tiny_models
    from hybrid_search.factory import build_encoder, build_store, collection_spec, ingest_options
    from hybrid_search.settings import Settings
    from ingest.pipeline import IngestJob
    from ingest.readers import record_from_object

    n = int(argv[0]) if argv else 2000
    quiet_transformers()
    root = Path(tempfile.mkdtemp(prefix="bulk-delete-"))
    models = build_tiny_models(root / "models")
    s = Settings(
        _env_file=None,
        milvus_uri=str(root / "m.db"),
        embedding_model=str(models.embedding_model),
        device="cpu",
    )
    store, encoder = build_store(s), build_encoder(s)
    spec = collection_spec(s, encoder)
    out: dict[str, object] = {"documents": n}
    for how in ("ids", "filter"):
        docs = [
            {
                "id": f"{how}-{i}",
                "text": f"document {i} on bulk deletes",
                "metadata": {"batch": how},
            }
            for i in range(n)
        ]
        records = [record_from_object(d, "bench", i) for i, d in enumerate(docs)]
        IngestJob(store, encoder, spec, ingest_options(s)).run(records)
        started = time.perf_counter()
        if how == "ids":
            done = delete_many(store, spec.name, s.tenant, ids=[d["id"] for d in docs])  # type: ignore[misc]
        else:
            where = {"field": "metadata.batch", "op": "eq", "value": "filter"}
            done = delete_many(store, spec.name, s.tenant, filter=where)
        out[f"by_{how}_s"] = round(time.perf_counter() - started, 3)
        out[f"by_{how}_deleted"] = sum(ok for _, ok in done)
    store.close()
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
