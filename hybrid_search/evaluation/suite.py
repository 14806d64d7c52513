"""One evaluation end to end: settings -> models -> ingest (if needed) -> runs -> report."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

from hybrid_search.errors import EncoderError, ModelNotFoundError
from hybrid_search.evaluation.beir import BeirDataset
from hybrid_search.evaluation.configs import EvalConfig, ablation_configs, order_routes
from hybrid_search.evaluation.runner import (
    ConfigResult,
    EvalReport,
    ProgressFactory,
    eval_collection_name,
    ingest_corpus,
    no_progress,
    run_config,
)
from hybrid_search.settings import BGE_M3_MAX_TOKENS, Settings, redact_uri
from schemas.documents import IngestSummary


@dataclass(frozen=True)
class EvalRequest:
    routes: tuple[str, ...] | None = None  # None: every route the encoder supports
    fusion: str = "rrf"
    rerank: bool | None = None  # None: on when the reranker model is available
    ablation: bool = False
    collection: str | None = None  # None: eval_collection_name()
    models_dir: Path = Path("models/tiny")  # tiny models for a BM25-only run without weights
    ignore_identical_ids: bool = True  # BEIR's default: a hit on the query's own id is dropped


def unavailable(name: str, *, dense: bool) -> str | None:
    """Why model `name` (a dense model, else BGE-M3-style) cannot load here, or None."""
    from hybrid_search.encoders.bge_m3 import resolve_model_path
    from hybrid_search.encoders.dense import resolve_dense_model

    try:
        (resolve_dense_model if dense else resolve_model_path)(name)
    except EncoderError as exc:
        return exc.message
    return None


def reranker_unavailable(settings: Settings) -> str | None:
    from hybrid_search.rerank.dense import DENSE_PREFIX

    name = settings.reranker_model
    return unavailable(name.removeprefix(DENSE_PREFIX), dense=name.startswith(DENSE_PREFIX))


def prepare_settings(settings: Settings, request: EvalRequest) -> tuple[Settings, list[str]]:
    """A BM25-only run stores no ColBERT vectors, indexes documents whole unless max_chunk_tokens
    was set (split documents cost BM25 nDCG@10 on SciFact, docs/evaluation.md) and runs on tiny
    models when the embedding weights are missing: BM25 ranks by the analyzer alone."""
    notes: list[str] = []
    if request.routes != ("bm25",) or request.ablation:
        return settings, notes
    update: dict[str, Any] = {"store_colbert": False}
    if "max_chunk_tokens" not in settings.model_fields_set:
        update["max_chunk_tokens"] = BGE_M3_MAX_TOKENS
        notes.append(
            f"BM25-only run: documents indexed whole (max_chunk_tokens {BGE_M3_MAX_TOKENS}), "
            "as BEIR's BM25 baseline indexes them; set HYBRID_SEARCH_MAX_CHUNK_TOKENS to chunk"
        )
    settings = settings.model_copy(update=update)
    why = unavailable(settings.embedding_model, dense=settings.embedding_kind == "dense")
    if why is None:
        return settings, notes
    from hybrid_search.encoders.tiny import build_tiny_models

    tiny = build_tiny_models(request.models_dir)
    notes.append(
        f"embedding model '{settings.embedding_model}' is not available ({why}); this BM25-only "
        f"run ingested with the tiny models in {request.models_dir} (BM25 scores do not depend "
        "on the embedding model; its tokenizer only sets chunk boundaries)"
    )
    update = {
        "embedding_model": str(tiny.embedding_model.resolve()),
        "embedding_kind": "bge-m3",
        "reranker_model": str(tiny.reranker_model.resolve()),
    }
    return settings.model_copy(update=update), notes


def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("hybrid-search", "pymilvus", "milvus-lite", "FlagEmbedding", "torch", "ranx"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


def setup_of(settings: Settings, collection: str) -> dict[str, Any]:
    return {
        "embedding_model": settings.embedding_model,
        "embedding_kind": settings.embedding_kind,
        "pooling": settings.pooling if settings.embedding_kind == "dense" else None,
        "query_instruction": settings.query_instruction,
        "reranker_model": settings.reranker_model,
        "rerank_top_n": settings.rerank_top_n,
        "bm25_analyzer": settings.bm25_analyzer,
        "bm25_stop_words": settings.bm25_stop_words,
        "max_chunk_tokens": settings.max_chunk_tokens,
        "chunk_overlap_tokens": settings.chunk_overlap_tokens,
        "store_colbert": settings.store_colbert,
        "candidates_per_route": settings.candidates_per_route,
        "rrf_k": settings.rrf_k,
        "milvus_uri": redact_uri(settings.milvus_uri),  # reports are shared: no credentials
        "collection": collection,
        "device": settings.device,
        "versions": _versions(),
    }


def eval_reranker(settings: Settings) -> Any:
    """The configured reranker, or for `dense:<model>` the dense stand-in (rerank/dense.py)."""
    from hybrid_search.encoders.dense import DenseEncoder
    from hybrid_search.factory import build_reranker
    from hybrid_search.rerank.dense import DENSE_PREFIX, DenseCosineReranker

    if not settings.reranker_model.startswith(DENSE_PREFIX):
        return build_reranker(settings)
    model = settings.reranker_model.removeprefix(DENSE_PREFIX)
    device, tokens = settings.resolved_device(), settings.rerank_max_length
    return DenseCosineReranker(
        DenseEncoder(model, device=device, pooling="mean", max_passage_tokens=tokens)
    )


@dataclass
class DatasetSearch:
    """A searcher over a dataset's ingested corpus, and what it took to get there."""

    searcher: Any  # HybridSearcher
    settings: Settings
    collection: str
    ingest: IngestSummary
    notes: list[str]
    rerank_unavailable: str | None


@contextmanager
def open_dataset(
    settings: Settings,
    dataset: BeirDataset,
    request: EvalRequest,
    *,
    need_reranker: bool,
    progress: ProgressFactory = no_progress,
) -> Iterator[DatasetSearch]:
    """Ingest the corpus if its collection is missing or stale, then yield a searcher over it
    (query encodings cached); closes models' pools and the store on exit."""
    from hybrid_search.evaluation.cache import QueryCachingEncoder
    from hybrid_search.factory import build_encoder, build_store, collection_spec
    from hybrid_search.searcher import HybridSearcher

    settings, notes = prepare_settings(settings, request)
    collection = request.collection or eval_collection_name(settings, dataset.name)
    s = settings.model_copy(update={"collection": collection})
    rerank_why = reranker_unavailable(s)
    if need_reranker and rerank_why is not None:
        raise ModelNotFoundError(f"--rerank: {rerank_why}")
    encoder = build_encoder(s)
    store = build_store(s)
    searcher: HybridSearcher | None = None
    try:
        summary = ingest_corpus(store, encoder, collection_spec(s, encoder), s, dataset, progress)
        if summary.failed:
            notes.append(f"{summary.failed} corpus records failed to ingest (see ingest.errors)")
        reranker = eval_reranker(s) if rerank_why is None else None
        searcher = HybridSearcher(
            store, QueryCachingEncoder(encoder), reranker, collection=collection, settings=s
        )
        yield DatasetSearch(searcher, s, collection, summary, notes, rerank_why)
    finally:
        if searcher is not None:
            searcher.close()  # its pools and the store
        else:
            store.close()


def evaluate_dataset(
    settings: Settings,
    dataset: BeirDataset,
    request: EvalRequest,
    *,
    progress: ProgressFactory = no_progress,
) -> EvalReport:
    """The main configuration (and the ablation) scored on every judged query."""
    with open_dataset(
        settings, dataset, request, need_reranker=request.rerank is True, progress=progress
    ) as ds:
        searcher, notes = ds.searcher, ds.notes
        rerank_main = (
            request.rerank if request.rerank is not None else ds.rerank_unavailable is None
        )
        if request.rerank is None and ds.rerank_unavailable is not None:
            notes.append(f"reranking not evaluated: {ds.rerank_unavailable}")
        reranker = searcher.reranker
        if reranker is not None and (rerank_main or request.ablation):
            reranker.load()  # fail here, not as a degraded response per query
        stored = searcher.store.describe(ds.collection)
        chosen = order_routes(request.routes or searcher.available_routes())
        main = EvalConfig(chosen, request.fusion if len(chosen) > 1 else "rrf", rerank_main)
        ignore = request.ignore_identical_ids
        run = partial(run_config, searcher, dataset, ignore_identical_ids=ignore, progress=progress)
        results = {main: run(main)}
        ablated: list[ConfigResult] = []
        unavailable: dict[str, str] = {}
        if request.ablation:  # the main configuration is run once, even if it is among these
            choices = [False] + ([True] if request.rerank is not False and reranker else [])
            colbert_alone = bool(stored.colbert_dim) and stored.colbert_block == 1
            configs, unavailable = ablation_configs(
                searcher.available_routes(), colbert_alone=colbert_alone, rerank=choices
            )
            results.update({c: run(c) for c in configs if c not in results})
            ablated = [results[c] for c in configs] + ([] if main in configs else [results[main]])
            if ds.rerank_unavailable is not None:
                unavailable["rerank"] = ds.rerank_unavailable
    ingest = ds.ingest.model_dump(mode="json", exclude={"errors"})
    ingest["errors"] = [e.model_dump(mode="json", exclude_none=True) for e in ds.ingest.errors[:20]]
    return EvalReport(
        dataset=dataset.name,
        split=dataset.split,
        queries=len(dataset.queries),
        collection=ds.collection,
        setup=setup_of(ds.settings, ds.collection),
        ingest=ingest,
        main=results[main],
        ablation=ablated,
        unavailable=unavailable,
        notes=notes,
        ignore_identical_ids=request.ignore_identical_ids,
    )
