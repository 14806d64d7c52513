"""Fusion: hand-built runs with each expected score written as its formula, and Milvus parity."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pytest
from pymilvus import AnnSearchRequest, DataType, MilvusClient, RRFRanker, WeightedRanker

from hybrid_search.errors import InvalidRequestError
from hybrid_search.fusion import (
    DEFAULT_WEIGHTS,
    FusedHit,
    Fusion,
    MinMaxFusion,
    RouteHit,
    RRFFusion,
    WeightedFusion,
    make_fusion,
)


def run(**routes: Sequence[tuple[str, float]]) -> dict[str, list[RouteHit]]:
    return {name: [RouteHit(k, s) for k, s in hits] for name, hits in routes.items()}


def scores(hits: list[FusedHit]) -> list[tuple[str, float]]:
    return [(h.key, h.score) for h in hits]


def assert_fused(got: list[FusedHit], expected: list[tuple[str, float]]) -> None:
    assert [h.key for h in got] == [k for k, _ in expected]
    for h, (_, s) in zip(got, expected, strict=True):
        assert h.score == pytest.approx(s, rel=1e-12, abs=0.0), h.key


# -- RRF ---------------------------------------------------------------------------------------

RUN = run(
    dense=[("a", 0.9), ("b", 0.8), ("c", 0.7)],
    sparse=[("c", 12.0), ("a", 11.0), ("d", 3.0)],
)


def test_rrf_scores_are_sums_of_reciprocal_ranks() -> None:
    got = RRFFusion().fuse(RUN, limit=10)
    assert_fused(
        got,
        [
            ("a", 1 / (60 + 1) + 1 / (60 + 2)),
            ("c", 1 / (60 + 3) + 1 / (60 + 1)),
            ("b", 1 / (60 + 2)),
            ("d", 1 / (60 + 3)),
        ],
    )
    assert got[0].routes == {"dense": (1, 0.9), "sparse": (2, 11.0)}
    assert got[2].routes == {"dense": (2, 0.8)}


def test_rrf_k_and_weights() -> None:
    assert_fused(
        RRFFusion(k=1).fuse(RUN, limit=2),
        [("a", 1 / (1 + 1) + 1 / (1 + 2)), ("c", 1 / (1 + 3) + 1 / (1 + 1))],
    )
    assert_fused(
        RRFFusion(weights={"sparse": 3.0}).fuse(RUN, limit=10),
        [
            ("c", 1 / (60 + 3) + 3 / (60 + 1)),
            ("a", 1 / (60 + 1) + 3 / (60 + 2)),
            ("d", 3 / (60 + 3)),
            ("b", 1 / (60 + 2)),
        ],
    )
    # weights of 1 (or none given) are Milvus's unweighted RRF
    ones = RRFFusion(weights={"dense": 1.0, "sparse": 1.0}).fuse(RUN, limit=10)
    assert scores(ones) == scores(RRFFusion().fuse(RUN, limit=10))
    # a zero weight removes a route's contribution but keeps its rank in the explanation
    muted = RRFFusion(weights={"sparse": 0}).fuse(RUN, limit=10)
    assert_fused(
        muted,
        [("a", 1 / (60 + 1)), ("b", 1 / (60 + 2)), ("c", 1 / (60 + 3)), ("d", 0.0)],
    )
    assert muted[3].routes == {"sparse": (3, 3.0)}


def test_duplicates_count_at_their_best_rank() -> None:
    got = RRFFusion().fuse(run(dense=[("a", 0.9), ("b", 0.8), ("a", 0.1)]), limit=10)
    assert_fused(got, [("a", 1 / (60 + 1)), ("b", 1 / (60 + 2))])
    assert got[0].routes == {"dense": (1, 0.9)}


def test_ties_break_by_score_then_best_rank_then_key() -> None:
    # y and x have equal RRF sums (addition commutes); both were first somewhere: key decides
    got = RRFFusion().fuse(run(p=[("y", 1.0), ("x", 0.5)], q=[("x", 1.0), ("y", 0.5)]), limit=5)
    assert_fused(got, [("x", 1 / (60 + 1) + 1 / (60 + 2)), ("y", 1 / (60 + 2) + 1 / (60 + 1))])
    # z and a tie on 1.0; z was first in its route, a only second: z wins despite its key
    weighted = WeightedFusion({"x": 1.0, "y": 1.0})
    got = weighted.fuse(run(x=[("z", 1.0)], y=[("q", 2.0), ("a", 1.0)]), limit=5)
    assert_fused(got, [("q", 2.0), ("z", 1.0), ("a", 1.0)])
    # the same input in another route order gives the same output
    again = RRFFusion().fuse(dict(reversed(list(RUN.items()))), limit=10)
    assert scores(again) == scores(RRFFusion().fuse(RUN, limit=10))


def test_three_routes_sum_exactly_in_any_order() -> None:
    # fsum: a+b+c and c+a+b are the same float, so the key decides, not the summation order
    r = run(
        p=[("u", 0), ("v", 0), ("w", 0)],
        q=[("v", 0), ("w", 0), ("u", 0)],
        s=[("w", 0), ("u", 0), ("v", 0)],
    )
    got = RRFFusion(k=7).fuse(r, limit=3)
    assert [h.key for h in got] == ["u", "v", "w"]
    assert got[0].score == got[1].score == got[2].score == math.fsum([1 / 8, 1 / 9, 1 / 10])


def test_limit_and_empty_inputs() -> None:
    assert [h.key for h in RRFFusion().fuse(RUN, limit=1)] == ["a"]
    assert RRFFusion().fuse(RUN, limit=0) == []
    assert RRFFusion().fuse({}, limit=10) == []
    assert RRFFusion().fuse({"dense": []}, limit=10) == []
    assert MinMaxFusion().fuse({"dense": [], "bm25": []}, limit=3) == []
    with pytest.raises(ValueError, match="limit"):
        RRFFusion().fuse(RUN, limit=-1)


# -- weighted (raw) ----------------------------------------------------------------------------


def test_weighted_sums_raw_scores_and_absent_is_zero() -> None:
    r = run(
        dense=[("a", 0.8), ("b", 0.6)],
        sparse=[("b", 0.3), ("c", 0.2)],
        colbert=[("a", 0.7), ("c", 0.65)],
        bm25=[("d", 25.0)],
    )
    assert_fused(
        WeightedFusion().fuse(r, limit=10),
        [
            ("a", 0.4 * 0.8 + 0.4 * 0.7),
            ("c", 0.2 * 0.2 + 0.4 * 0.65),
            ("b", 0.4 * 0.6 + 0.2 * 0.3),
            ("d", 0.0),  # bm25 has no default weight
        ],
    )
    assert_fused(
        WeightedFusion({"dense": 1.0, "bm25": 0.1}).fuse(r, limit=10),
        [("d", 0.1 * 25.0), ("a", 1.0 * 0.8), ("b", 1.0 * 0.6), ("c", 0.0)],
    )
    assert dict(DEFAULT_WEIGHTS) == {"dense": 0.4, "sparse": 0.2, "colbert": 0.4}


def test_weighted_keeps_negative_raw_scores() -> None:
    got = WeightedFusion({"x": 0.5, "y": 2.0}).fuse(
        run(x=[("a", -0.2), ("b", -0.4)], y=[("b", 0.1)]), limit=5
    )
    assert_fused(got, [("b", 0.5 * -0.4 + 2.0 * 0.1), ("a", 0.5 * -0.2)])


# -- min-max -----------------------------------------------------------------------------------


def test_minmax_normalises_each_route() -> None:
    r = run(
        dense=[("a", 1.0), ("b", 0.75), ("c", 0.5)],
        bm25=[("c", 30.0), ("d", 20.0), ("a", 15.0), ("e", 10.0)],
    )
    assert_fused(
        MinMaxFusion().fuse(r, limit=10),
        [
            ("a", (1.0 - 0.5) / (1.0 - 0.5) + (15 - 10) / (30 - 10)),
            ("c", (0.5 - 0.5) / (1.0 - 0.5) + (30 - 10) / (30 - 10)),
            ("b", (0.75 - 0.5) / (1.0 - 0.5)),  # ties with d on 0.5 and on best rank 2: key
            ("d", (20 - 10) / (30 - 10)),
            ("e", (10 - 10) / (30 - 10)),
        ],
    )
    assert_fused(
        MinMaxFusion({"dense": 2.0, "bm25": 0.5}).fuse(r, limit=2),
        [
            ("a", 2.0 * (1.0 - 0.5) / (1.0 - 0.5) + 0.5 * (15 - 10) / (30 - 10)),
            ("b", 2.0 * (0.75 - 0.5) / (1.0 - 0.5)),
        ],
    )


def test_minmax_flat_route_maps_to_one() -> None:
    r = run(dense=[("a", 0.9), ("b", 0.1)], sparse=[("b", 0.3), ("c", 0.3)], bm25=[("d", 7.0)])
    assert_fused(
        MinMaxFusion().fuse(r, limit=10),
        # all four score 1.0; a, b, d were first somewhere (key order), c only second
        [("a", 1.0), ("b", 0.0 + 1.0), ("d", 1.0), ("c", 1.0)],
    )


@pytest.mark.parametrize("fusion", [WeightedFusion({"x": 1.0}), MinMaxFusion()])
def test_score_fusions_refuse_nan(fusion: Fusion) -> None:
    with pytest.raises(ValueError, match="non-finite"):
        fusion.fuse(run(x=[("a", float("nan"))]), limit=1)


# -- factory and validation --------------------------------------------------------------------


def test_make_fusion() -> None:
    rrf = make_fusion("rrf", k=10, weights={"dense": 2.0})
    assert isinstance(rrf, RRFFusion) and rrf.name == "rrf" and rrf.k == 10
    assert rrf.weights == {"dense": 2.0}
    weighted = make_fusion("weighted")
    assert isinstance(weighted, WeightedFusion) and weighted.name == "weighted"
    assert weighted.weights == dict(DEFAULT_WEIGHTS)
    assert make_fusion("minmax").name == "minmax"
    with pytest.raises(InvalidRequestError, match="unknown fusion"):
        make_fusion("borda")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "weights", [{"dense": -1.0}, {"dense": float("nan")}, {"dense": math.inf}, {"dense": True}]
)
def test_bad_weights(weights: Mapping[str, Any]) -> None:
    for name in ("rrf", "weighted", "minmax"):
        with pytest.raises(InvalidRequestError, match="weight for route 'dense'"):
            make_fusion(name, weights=weights)


@pytest.mark.parametrize("k", [0, -1, math.nan, True])
def test_bad_k(k: Any) -> None:
    with pytest.raises(InvalidRequestError, match="RRF k"):
        RRFFusion(k=k)


# -- parity with Milvus's own rankers ----------------------------------------------------------

LIMIT = 10


@pytest.fixture(scope="module")
def milvus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    client = MilvusClient(str(tmp_path_factory.mktemp("fusion") / "f.db"))
    schema = client.create_schema(auto_id=False)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=16)
    schema.add_field("a", DataType.FLOAT_VECTOR, dim=4)
    schema.add_field("b", DataType.FLOAT_VECTOR, dim=4)
    index = client.prepare_index_params()
    index.add_index("a", index_type="FLAT", metric_type="IP")
    index.add_index("b", index_type="FLAT", metric_type="IP")
    client.create_collection("t", schema=schema, index_params=index)
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(30, 2, 4)).astype(np.float32)
    client.insert(
        "t",
        [
            {"pk": f"k{i:02d}", "a": v[0].tolist(), "b": v[1].tolist()}
            for i, v in enumerate(vectors)
        ],
    )
    client.load_collection("t")
    queries = {"a": rng.normal(size=4).tolist(), "b": rng.normal(size=4).tolist()}
    routes = {
        field: [
            RouteHit(str(h["pk"]), float(h["distance"]))
            for h in client.search(
                "t", [q], anns_field=field, limit=LIMIT, search_params={"metric_type": "IP"}
            )[0]
        ]
        for field, q in queries.items()
    }
    requests = [
        AnnSearchRequest([q], field, {"metric_type": "IP"}, limit=LIMIT)
        for field, q in queries.items()
    ]
    yield {"client": client, "routes": routes, "requests": requests}
    client.close()


def milvus_hybrid(env: dict[str, Any], ranker: Any) -> list[tuple[str, float]]:
    hits = env["client"].hybrid_search("t", env["requests"], ranker, limit=2 * LIMIT)[0]
    return [(str(h["pk"]), float(h["distance"])) for h in hits]


def assert_same_ranking(ours: list[FusedHit], theirs: list[tuple[str, float]]) -> None:
    """Same keys, same scores (Milvus computes in float32), same order up to exact ties."""
    assert len(ours) == len(theirs) and {h.key for h in ours} == {k for k, _ in theirs}
    by_key = dict(theirs)
    for h in ours:
        assert h.score == pytest.approx(by_key[h.key], rel=1e-5, abs=1e-7), h.key
    for h, (key, score) in zip(ours, theirs, strict=True):
        assert h.key == key or h.score == pytest.approx(score, rel=1e-5, abs=1e-7)


def test_rrf_equals_milvus_rrfranker(milvus: dict[str, Any]) -> None:
    ours = RRFFusion(k=60).fuse(milvus["routes"], limit=2 * LIMIT)
    theirs = milvus_hybrid(milvus, RRFRanker(60))
    assert_same_ranking(ours, theirs)
    assert theirs[0][1] == pytest.approx(ours[0].score, rel=1e-6)
    assert len(ours) > LIMIT  # the routes disagree, so the union is larger than either


def test_rrf_other_k_equals_milvus(milvus: dict[str, Any]) -> None:
    ours = RRFFusion(k=5).fuse(milvus["routes"], limit=2 * LIMIT)
    assert_same_ranking(ours, milvus_hybrid(milvus, RRFRanker(5)))


@pytest.mark.parametrize("w", [(0.7, 0.3), (1.0, 1.0), (0.2, 0.9)])
def test_weighted_equals_milvus_weightedranker_without_norm(
    milvus: dict[str, Any], w: tuple[float, float]
) -> None:
    ours = WeightedFusion({"a": w[0], "b": w[1]}).fuse(milvus["routes"], limit=2 * LIMIT)
    assert_same_ranking(ours, milvus_hybrid(milvus, WeightedRanker(*w, norm_score=False)))
