"""Every search default is resolved in `make_plan`: the request wins, then the collection's
saved defaults, then the settings; the plan (and so the response) says which gave each."""

from hybrid_search.retrieval.plan import make_plan
from hybrid_search.settings import Settings
from schemas.api import SearchOptions

ROUTES = ["dense", "sparse", "bm25"]
SAVED = {"routes": ["dense", "bm25"], "fusion": "weighted", "weights": {"dense": 2.0}, "rrf_k": 7}


def plan_for(saved: dict[str, object], **request: object):  # type: ignore[no-untyped-def]
    settings = Settings(_env_file=None, rrf_k=33, candidates_per_route=77, rerank_top_n=9)
    opts = SearchOptions.model_validate(request)
    return make_plan(
        ["q"], opts, settings, fields_set=opts.model_fields_set, saved=saved, available=ROUTES,
        encoder_name="tiny", can_generate_colbert=False, has_reranker=True,
    )  # fmt: skip


def test_each_source_wins_where_it_should() -> None:
    p = plan_for({})
    assert (p.rrf_k, p.depth["dense"], p.rerank_top_n, p.routes) == (33, 77, 9, ROUTES)
    assert p.sources["rrf_k"] == p.sources["candidates"] == p.sources["tenant"] == "settings"
    assert p.sources["routes"] == p.sources["fusion"] == "default"

    p = plan_for(SAVED)
    assert (p.rrf_k, p.options.fusion, p.routes) == (7, "weighted", ["dense", "bm25"])
    assert p.applied == SAVED
    assert {p.sources[f] for f in SAVED} == {"collection"}
    assert p.sources["rerank_top_n"] == "settings"

    p = plan_for(SAVED, rrf_k=5, routes=["dense", "bm25"], rerank_top_n=3, candidates=11)
    assert (p.rrf_k, p.options.fusion, p.rerank_top_n, p.depth["dense"]) == (5, "rrf", 3, 11)
    assert p.applied == {}  # fusion options are one unit: the request set one of them
    assert {p.sources[f] for f in ("rrf_k", "routes", "rerank_top_n", "candidates")} == {"request"}
    assert p.sources["fusion"] == "default"
