"""The `hybrid-search` console script. Command modules import heavy libraries inside commands,
so `hybrid-search --help` answers without loading torch, FlagEmbedding or pymilvus."""

from __future__ import annotations

from hybrid_search.cli import (  # noqa: F401  (registers commands)
    bench_cmd,
    commands,
    demo_cmd,
    doctor_cmd,
    eval_cmd,
    ingest_cmd,
    migrate_cmd,
    negatives_cmd,
    search_cmd,
    serve_cmd,
    tune_cmd,
)
from hybrid_search.cli.app import app

__all__ = ["app"]
