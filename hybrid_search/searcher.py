"""HybridSearcher owns the encoder, the reranker and the store, and is safe to share across
threads. It depends on protocols only; `from_settings` builds the real components. A call is
planned once (`retrieval.plan`) and run by `retrieval.pipeline`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hybrid_search.encoders.base import Encoder
from hybrid_search.errors import validated
from hybrid_search.rerank.base import Reranker
from hybrid_search.retrieval import pipeline
from hybrid_search.retrieval.colbert import ColbertRoute
from hybrid_search.retrieval.engine import Engine
from hybrid_search.retrieval.lanes import Lane, Lanes
from hybrid_search.retrieval.plan import make_plan
from hybrid_search.retrieval.retrieve import Retriever
from hybrid_search.settings import Settings
from hybrid_search.store.base import VectorStore
from schemas import collection as C
from schemas.api import (
    ALL_ROUTES,
    BatchSearchRequest,
    SearchOptions,
    SearchRequest,
    SearchResponse,
    as_queries,
)


class HybridSearcher:
    """In-process search client. `search` for one query, `search_many` for a batch."""

    def __init__(
        self,
        store: VectorStore,
        encoder: Encoder,
        reranker: Reranker | None,
        *,
        collection: str,
        settings: Settings | None = None,
    ) -> None:
        self.store = store
        self.encoder = encoder
        self.reranker = reranker
        self.collection = collection
        self.settings = settings or Settings(_env_file=None)
        self._colbert = ColbertRoute(store, collection)
        self._retriever = Retriever(store, collection, self._colbert)
        self._lanes = Lanes()
        self._spec: C.CollectionSpec | None = None
        self._saved_defaults: dict[str, Any] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, collection: str | None = None) -> HybridSearcher:
        from hybrid_search.factory import build_encoder, build_reranker, build_store, warm_bm25

        store, name = build_store(settings), collection or settings.collection
        warm_bm25(store, name)  # the first BM25 query's analyzer, built while the models load
        return cls(
            store,
            build_encoder(settings),
            build_reranker(settings),
            collection=name,
            settings=settings,
        )

    def __enter__(self) -> HybridSearcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.stop_threads()
        self.store.close()

    def give_way(self) -> None:
        """Background work in this process (ingest jobs) waits for interactive searches here."""
        self._lanes.give_way()

    def stop_threads(self) -> None:
        """Stop the searcher's thread pools, leaving the store open (it may be shared)."""
        self._lanes.shutdown()

    def search(self, query: str | SearchRequest, **options: Any) -> SearchResponse:
        """Search one query. Options are SearchOptions fields (top_k, routes, filter, rerank...)."""
        if isinstance(query, SearchRequest):
            request = query
        else:
            request = validated(SearchRequest, {"query": query, **options})
        opts = SearchOptions.model_validate(request.model_dump(exclude={"query"}))
        return self._run_with_defaults([request.query], opts, request.model_fields_set)[0]

    def search_many(
        self,
        queries: Sequence[str] | BatchSearchRequest,
        *,
        background: bool = False,
        checkpoint: Callable[[], None] | None = None,
        **options: Any,
    ) -> list[SearchResponse]:
        """Search a batch, encoded in one model call. `background`: give way to interactive
        searches (`retrieval.lanes`), same answers; `checkpoint` runs at its stage boundaries and
        may raise to stop the batch (the service's deadline and client-gone check)."""
        if isinstance(queries, BatchSearchRequest):
            request = queries
        else:
            request = validated(BatchSearchRequest, {"queries": as_queries(queries), **options})
        opts = SearchOptions.model_validate(request.model_dump(exclude={"queries"}))
        fields_set = request.model_fields_set
        if not background:
            return self._run_with_defaults(request.queries, opts, fields_set)
        return self._lanes.run_background(
            lambda lane: self._run_with_defaults(request.queries, opts, fields_set, lane),
            checkpoint,
        )

    def _run_with_defaults(
        self,
        queries: list[str],
        opts: SearchOptions,
        fields_set: set[str],
        lane: Lane | None = None,
    ) -> list[SearchResponse]:
        """Plan the call (the collection's saved defaults read once, like the spec) and run it."""
        spec = self.spec()  # CollectionNotFoundError until the collection exists
        if self._saved_defaults is None:
            self._saved_defaults = self.store.search_defaults(self.collection)
        plan = make_plan(
            queries,
            opts,
            self.settings,
            fields_set=fields_set,
            saved=self._saved_defaults,
            available=self.available_routes(),
            encoder_name=self.encoder.name,
            can_generate_colbert=self._colbert.can_generate(),
            has_reranker=self.reranker is not None,
        )
        engine = Engine(
            self.store,
            self.encoder,
            self.reranker,
            self.collection,
            spec,
            self._colbert,
            self._retriever,
        )
        if lane is not None:
            return pipeline.run(engine, queries, plan, lane)
        with self._lanes.interactive_search():
            return pipeline.run(engine, queries, plan, self._lanes.interactive)

    def spec(self) -> C.CollectionSpec:
        if self._spec is None:
            self._spec = self.store.describe(self.collection)
        return self._spec

    def available_routes(self) -> list[str]:
        reps = self.encoder.representations
        out: list[str] = [r for r in ALL_ROUTES if r == "bm25" or r in reps]
        if self.spec().colbert_dim is None and "colbert" in out:
            out.remove("colbert")
        return out
