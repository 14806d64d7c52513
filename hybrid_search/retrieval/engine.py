"""What a search runs on; its own module so the pipeline and the explanation both take it."""

from __future__ import annotations

from dataclasses import dataclass

from hybrid_search.encoders.base import Encoder
from hybrid_search.rerank.base import Reranker
from hybrid_search.retrieval.colbert import ColbertRoute
from hybrid_search.retrieval.retrieve import Retriever
from hybrid_search.store.base import VectorStore
from schemas import collection as C


@dataclass(frozen=True)
class Engine:
    """What a search runs on: one collection in a store, the models, the route runners."""

    store: VectorStore
    encoder: Encoder
    reranker: Reranker | None
    collection: str
    spec: C.CollectionSpec
    colbert: ColbertRoute
    retriever: Retriever
