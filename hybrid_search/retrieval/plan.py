"""What one search call will do, decided once before any query runs: routes, depths, scope,
head size, fusion and rerank settings. Every default is resolved here, and only here, from the
request, then the collection's saved defaults, then `Settings`; the plan records which source
gave each option. Every request error is raised here, before the store is asked."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hybrid_search.errors import ConfigError, InvalidRequestError
from hybrid_search.filtering import parse_filter
from hybrid_search.settings import Settings
from hybrid_search.store.types import Scope
from schemas.api import MAX_SEARCH_LIMIT, SearchOptions

#: where an option's value came from: the request, the collection's saved defaults (`tune
#: --save`), the service's `Settings`, or the option's built-in default
Source = Literal["request", "collection", "settings", "default"]
#: options resolved from `Settings` when neither the request nor the collection sets them
_FROM_SETTINGS = ("candidates", "rrf_k", "rerank_top_n", "rerank_timeout_ms", "tenant")
#: the options whose source a response reports
_REPORTED = ("routes", "fusion", "weights", *_FROM_SETTINGS)


@dataclass(frozen=True)
class Plan:
    routes: list[str]
    depth: dict[str, int]
    scope: Scope
    top_k: int
    rerank: bool
    rerank_top_n: int
    rerank_timeout_s: float
    options: SearchOptions
    #: hits of the ranking skipped before the page (the page is offset .. offset + top_k)
    offset: int = 0
    rrf_k: int = 60
    max_query_tokens: int = 512
    rerank_normalize: bool = False
    colbert_rescore_per_route: int = 20
    #: {option: value} taken from the collection's saved defaults
    applied: dict[str, Any] = field(default_factory=dict)
    #: {option: where its value came from}
    sources: dict[str, Source] = field(default_factory=dict)

    @property
    def head_size(self) -> int:
        """Hits the answer needs rows for: the reranked head, or the page and all before it."""
        end = self.offset + self.top_k
        return max(end, self.rerank_top_n) if self.rerank else end

    @property
    def native_fusion(self) -> bool:
        """One store call may run the routes and RRF: unweighted, 2+ routes, no per-route detail."""
        o = self.options
        return not (
            o.explain
            or o.fusion != "rrf"
            or "colbert" in self.routes
            or len(self.routes) < 2
            or any(w != 1.0 for r, w in (o.weights or {}).items() if r in self.routes)
        )


def make_plan(
    queries: list[str],
    opts: SearchOptions,
    settings: Settings,
    *,
    fields_set: Collection[str] = (),
    saved: Mapping[str, Any] | None = None,
    available: list[str],
    encoder_name: str,
    can_generate_colbert: bool,
    has_reranker: bool,
) -> Plan:
    """The plan for `opts`: what the request set, then the collection's `saved`, then `settings`."""
    for i, q in enumerate(queries):
        if not q.strip():
            raise InvalidRequestError(
                "query is empty" if len(queries) == 1 else f"queries[{i}] is empty",
                details={"field": "query"},
            )
    s = settings
    opts, applied = apply_saved_defaults(opts, fields_set, saved or {}, available)
    sources: dict[str, Source] = {
        f: "request"
        if f in fields_set
        else "collection"
        if f in applied
        else "settings"
        if f in _FROM_SETTINGS
        else "default"
        for f in _REPORTED
    }
    routes: list[str] = list(opts.routes) if opts.routes else available
    unavailable = [r for r in routes if r not in available]
    if unavailable:
        raise InvalidRequestError(
            f"routes {unavailable} are not available with encoder '{encoder_name}' "
            f"(available: {available})",
            details={"field": "routes", "available": available},
        )
    if routes == ["colbert"] and not can_generate_colbert:
        raise InvalidRequestError(
            "route 'colbert' alone needs a collection ingested with colbert_block_tokens=1 "
            "(one row per token, searchable); this one packs token vectors in blocks, so "
            "ColBERT rescores the candidates of at least one other route",
            details={"field": "routes"},
        )
    if opts.top_k > MAX_SEARCH_LIMIT:
        raise InvalidRequestError(
            f"top_k {opts.top_k} is over the limit of {MAX_SEARCH_LIMIT}",
            details={"field": "top_k", "limit": MAX_SEARCH_LIMIT},
        )
    default_depth = max(s.candidates_per_route, opts.top_k)
    if isinstance(opts.candidates, int):
        depth = dict.fromkeys(routes, opts.candidates)
    else:
        per_route: dict[str, int] = {str(r): d for r, d in (opts.candidates or {}).items()}
        depth = {r: per_route.get(r, default_depth) for r in routes}
    end = opts.offset + opts.top_k
    if opts.offset and end > (deepest := max(depth.values())):  # else pages could overlap
        raise InvalidRequestError(
            f"offset {opts.offset} + top_k {opts.top_k} = {end} is past the candidate depth "
            f"{deepest}: a page must end within the deepest route's candidates; ask for an "
            f"earlier page or raise `candidates` (up to 16384)",
            details={"field": "offset", "limit": deepest},
        )
    return Plan(
        routes=routes,
        depth=depth,
        scope=Scope(opts.tenant or s.tenant, parse_filter(opts.filter) if opts.filter else None),
        top_k=opts.top_k,
        rerank=opts.rerank and has_reranker,
        rerank_top_n=max(opts.rerank_top_n or s.rerank_top_n, 1),
        rerank_timeout_s=(opts.rerank_timeout_ms / 1000.0)
        if opts.rerank_timeout_ms
        else s.rerank_timeout_s,
        options=opts,
        offset=opts.offset,
        rrf_k=opts.rrf_k or s.rrf_k,
        max_query_tokens=s.max_query_tokens,
        rerank_normalize=s.rerank_normalize,
        colbert_rescore_per_route=s.colbert_rescore_per_route,
        applied=applied,
        sources=sources,
    )


#: the options `tune --save` records
SAVED_FIELDS = ("routes", "fusion", "weights", "rrf_k")
#: the ones that only make sense together
FUSION_FIELDS = ("fusion", "weights", "rrf_k")


def check_saved_defaults(saved: Mapping[str, Any]) -> dict[str, Any]:
    """Saved defaults as valid SearchOptions values; ConfigError names a bad one."""
    unknown = sorted(set(saved) - set(SAVED_FIELDS))
    if unknown:
        raise ConfigError(
            f"search defaults: unknown field(s) {unknown}; a collection may save "
            f"{', '.join(SAVED_FIELDS)}",
            details={"fields": unknown},
        )
    try:
        opts = SearchOptions.model_validate(dict(saved))
    except ValueError as exc:
        raise ConfigError(f"search defaults are invalid: {exc}") from None
    return opts.model_dump(include=set(saved), exclude_none=True)


def apply_saved_defaults(
    opts: SearchOptions,
    fields_set: Collection[str],
    saved: Mapping[str, Any],
    available: Sequence[str],
) -> tuple[SearchOptions, dict[str, Any]]:
    """`opts` with the `saved` defaults filled into the fields the request left open, and what was
    applied. Fusion options were tuned together on the saved routes: they apply as one unit, only
    when the request sets none of them and searches exactly those routes."""
    if not saved:
        return opts, {}
    applied: dict[str, Any] = {}
    saved_routes = saved.get("routes")
    if saved_routes and "routes" not in fields_set and set(saved_routes) <= set(available):
        applied["routes"] = list(saved_routes)
    routes = applied.get("routes", opts.routes if opts.routes is not None else list(available))
    same_routes = saved_routes is None or set(routes) == set(saved_routes)
    if same_routes and not set(FUSION_FIELDS) & set(fields_set):
        applied.update({f: saved[f] for f in FUSION_FIELDS if saved.get(f) is not None})
    if not applied:
        return opts, {}
    return opts.model_copy(update=applied), applied
