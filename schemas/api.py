"""Search request and response: the same JSON for the Python client, the CLI and HTTP."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

RouteName = Literal["dense", "sparse", "bm25", "colbert"]
ALL_ROUTES: tuple[RouteName, ...] = ("dense", "sparse", "bm25", "colbert")
FusionName = Literal["rrf", "weighted", "minmax"]


#: Milvus caps one search's limit (and one query's offset + limit) at 16384 rows
MAX_SEARCH_LIMIT = 16_384


class SearchOptions(BaseModel):
    """Everything about a search except the query text; shared by single and batch requests."""

    model_config = ConfigDict(extra="forbid", strict=True)  # "10" and true are not top_k 10, 1

    top_k: int = Field(
        10,
        ge=1,
        description="hits returned; one limit, the service's max_top_k (default 100), or "
        f"{MAX_SEARCH_LIMIT} in process",
    )
    offset: int = Field(
        0,
        ge=0,
        le=16_383,
        description="hits to skip: the page holds hits offset+1..offset+top_k of the ranking one "
        "request of offset+top_k hits returns (fused, then reranked); offset+top_k may not "
        "exceed the candidate depth of the deepest route (candidates, default "
        "candidates_per_route)",
    )
    routes: list[RouteName] | None = Field(
        None, description="retrieval routes; default: every route the encoder supports"
    )
    candidates: int | dict[RouteName, int] | None = Field(
        None, description="candidate depth per route (one number for all, or per route)"
    )
    fusion: FusionName = "rrf"
    rrf_k: int | None = Field(None, ge=1, le=100_000, description="RRF constant k (default 60)")
    weights: dict[RouteName, float] | None = Field(
        None, description="per-route weights (RRF, weighted and minmax fusion)"
    )
    rerank: bool = True
    rerank_top_n: int | None = Field(None, ge=1, le=1000)
    rerank_mode: Literal["replace", "fuse"] = Field(
        "replace",
        description="replace: the reranker's order replaces the first stage's in the reranked "
        "head; fuse: the two orders are fused by RRF (rerank_weight), so a reranker that is "
        "worse than a strong first stage cannot simply overturn it",
    )
    rerank_weight: float = Field(
        1.0, ge=0, le=100, description="fuse mode: the reranker's RRF weight (first stage: 1)"
    )
    rerank_timeout_ms: int | None = Field(None, ge=1, le=600_000)
    filter: dict[str, Any] | None = Field(None, description="structured filter, see README")
    group_by_doc: bool = Field(True, description="best chunk per document (false: chunks)")
    explain: bool = Field(
        True,
        description="score every returned hit on every route, also where the hit was beyond a "
        "route's candidate depth (rank null): dense, sparse and ColBERT from the stored vectors, "
        "BM25 in one filtered search. false: hits carry "
        "only the routes that found them, and unweighted RRF without ColBERT runs as one Milvus "
        "hybrid_search whose hits carry the fused score only",
    )
    highlight: bool = Field(
        False,
        description="per hit, the character spans of the query's terms in its text, cut by the "
        "collection's BM25 analyzer (jieba for Chinese), and a snippet around the best of them",
    )
    snippet_chars: int = Field(
        200, ge=20, le=4096, description="most characters of a highlight snippet"
    )
    tenant: str | None = Field(None, pattern=r"^[A-Za-z0-9_\-]{1,64}$")

    @field_validator("routes")
    @classmethod
    def _routes(cls, value: list[RouteName] | None) -> list[RouteName] | None:
        if value is not None:
            if not value:
                raise ValueError("routes is empty; give at least one route or omit it")
            value = list(dict.fromkeys(value))
        return value

    @field_validator("filter")
    @classmethod
    def _filter(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value == {}:
            raise ValueError("filter is empty; give a condition or omit the filter")
        return value

    @field_validator("candidates")
    @classmethod
    def _candidates(cls, value: int | dict[str, int] | None) -> Any:
        values = [value] if isinstance(value, int) else list((value or {}).values())
        for v in values:
            if not 1 <= v <= MAX_SEARCH_LIMIT:
                raise ValueError(f"candidate depth must be between 1 and {MAX_SEARCH_LIMIT}")
        return value


class SearchRequest(SearchOptions):
    query: str = Field(
        description="the query text (at least one non-space character)",
        json_schema_extra={"pattern": r"\S"},
    )

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("query is empty: give at least one non-space character")
        return _encodable(value)


def as_queries(queries: Sequence[str]) -> Any:
    """A batch of queries as BatchSearchRequest should see it. A str is a Sequence[str] too, and
    list("abc") would search "a", "b" and "c": a str is passed as it is, and refused."""
    return queries if isinstance(queries, str) else list(queries)


class BatchSearchRequest(SearchOptions):
    queries: list[str] = Field(min_length=1)

    @field_validator("queries")
    @classmethod
    def _each_encodable(cls, value: list[str]) -> list[str]:
        return [_encodable(q, f"queries[{i}]") for i, q in enumerate(value)]


def _encodable(query: str, what: str = "query") -> str:
    """A lone surrogate (JSON allows "\\ud800") cannot be tokenized: refuse it here, as a
    request error, rather than fail in the encoder."""
    try:
        query.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{what} holds an unpaired surrogate U+{ord(query[exc.start]):04X} at character "
            f"{exc.start}, which is not valid Unicode"
        ) from None
    return query


class RouteScore(BaseModel):
    rank: int | None = Field(
        description="1-based rank within the route's candidates; null: scored for the "
        "explanation only, beyond the route's candidate depth (it did not count in fusion)"
    )
    score: float = Field(
        description="raw route score (dense/sparse: inner product, bm25: BM25, colbert: MaxSim)"
    )


class HitHighlight(BaseModel):
    """Where the query's terms are in a hit's text; offsets count Unicode characters."""

    terms: list[str] = Field(description="the query's terms found in the text, in text order")
    spans: list[tuple[int, int]] = Field(
        description="[start, end) of each match in the hit's text, sorted, non-overlapping"
    )
    snippet: str = Field(description="text[snippet_start:snippet_start + len(snippet)]")
    snippet_start: int
    snippet_spans: list[tuple[int, int]] = Field(
        description="the matches inside the snippet, relative to its start"
    )


class SearchHit(BaseModel):
    doc_id: str
    chunk_id: str
    chunk_index: int
    title: str
    text: str
    metadata: dict[str, Any]
    routes: dict[str, RouteScore] = Field(
        description="route -> rank and raw score; absent if the route did not return it"
    )
    fused_score: float = Field(description="score of the fusion named in the response")
    rerank_score: float | None = Field(
        None, description="cross-encoder score; null when reranking did not run"
    )
    highlight: HitHighlight | None = Field(None, description="present when highlight was asked")


@dataclass(frozen=True)
class RouteFailure:
    """A route that did not answer, as data: the service words it for clients by `kind`."""

    route: str
    kind: str  # the error's code (route_unanswerable, store_error, ...)
    message: str

    @property
    def reason(self) -> str:
        # a query with nothing for a route (no positive lexical weight) is no fault of the route
        verb = "skipped" if self.kind == "route_unanswerable" else "failed"
        return f"route {self.route} {verb}: {self.message}"


class SearchResponse(BaseModel):
    query: str
    hits: list[SearchHit]
    offset: int = Field(0, description="hits skipped before the first of `hits`")
    timings_ms: dict[str, float]
    fusion: str
    routes: list[str] = Field(description="routes that answered")
    route_errors: dict[str, str] = Field(default_factory=dict)
    route_error_codes: dict[str, str] = Field(
        default_factory=dict,
        description="route -> error code of `route_errors` (route_unanswerable: the query had "
        "nothing this route can search; store_error / store_unavailable: the store failed)",
    )
    reranked: bool = False
    degraded: bool = False
    reasons: list[str] = Field(default_factory=list, description="why degraded, what was truncated")
    defaults_applied: dict[str, Any] = Field(
        default_factory=dict,
        description="options taken from the collection's saved defaults (`hybrid-search tune "
        "--save`) because the request left them unset; empty: none applied",
    )
    option_sources: dict[str, str] = Field(
        default_factory=dict, description="option -> request, collection, settings or default"
    )
    query_truncated: bool = False
    notes: list[str] = Field(
        default_factory=list,
        description="why no hit came back, when none did: the tenant has no documents, or a "
        "filter condition matches no document (naming the field or value)",
    )
    #: the failed routes as data, first in `reasons` (in-process only, never serialized)
    _failures: list[RouteFailure] = PrivateAttr(default_factory=list)


class BatchSearchResponse(BaseModel):
    results: list[SearchResponse]
    timings_ms: dict[str, float]
