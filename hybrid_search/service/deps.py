"""What handlers depend on: the state the lifespan builds, as `Annotated` dependency aliases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from hybrid_search.encoders.base import Encoder
from hybrid_search.errors import StoreUnavailableError
from hybrid_search.rerank.base import Reranker
from hybrid_search.searcher import HybridSearcher
from hybrid_search.service.admission import TenantGate
from hybrid_search.service.jobs import JobQueue
from hybrid_search.service.metrics import Metrics
from hybrid_search.settings import Settings
from hybrid_search.store.base import VectorStore
from schemas.collection import CollectionSpec

__all__ = ["MetricsDep", "ServiceState", "StateDep", "get_state"]


@dataclass
class ServiceState:
    """Built once by the lifespan; shared by every request (all members are thread-safe).
    Handlers use the component they need (`store`, `encoder`), never reach through `searcher`."""

    settings: Settings
    searcher: HybridSearcher
    store: VectorStore
    encoder: Encoder
    reranker: Reranker | None
    gate: TenantGate
    spec: CollectionSpec
    jobs: JobQueue  # large writes (202 + job id) run here, outside the gate


def get_state(request: Request) -> ServiceState:
    state = getattr(request.app.state, "service", None)
    if not isinstance(state, ServiceState):
        raise StoreUnavailableError("the service is starting or stopping")
    return state


def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


StateDep = Annotated[ServiceState, Depends(get_state)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
