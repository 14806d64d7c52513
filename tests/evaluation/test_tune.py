"""`hybrid-search tune`: the grid, the seeded split, held-out scoring, and saved defaults that
later searches use unless the request sets its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hybrid_search.errors import ConfigError, InvalidRequestError
from hybrid_search.evaluation.beir import load_beir
from hybrid_search.evaluation.grid import fusion_grid, split_queries, weight_grid
from hybrid_search.evaluation.metrics import evaluate
from hybrid_search.evaluation.runs import read_trec_run
from hybrid_search.retrieval.plan import apply_saved_defaults, check_saved_defaults
from schemas.api import SearchOptions


def test_weight_grid_is_the_simplex_in_steps() -> None:
    assert weight_grid(["dense", "bm25"], 0.5) == [
        (("dense", 0.0), ("bm25", 1.0)),
        (("dense", 0.5), ("bm25", 0.5)),
        (("dense", 1.0), ("bm25", 0.0)),
    ]
    assert len(weight_grid(["dense", "bm25"], 0.1)) == 11
    assert len(weight_grid(["dense", "sparse", "bm25"], 0.25)) == 15  # C(6, 2)
    with pytest.raises(InvalidRequestError, match="whole steps"):
        weight_grid(["dense", "bm25"], 0.3)


def test_grid_starts_with_the_default_and_tries_one_route_alone_once() -> None:
    grid = fusion_grid(["bm25", "dense"], rrf_ks=(10, 60), weight_step=0.5)
    assert grid[0].name == "dense+bm25 rrf" and not grid[0].weights and grid[0].rrf_k is None
    names = [c.name for c in grid]
    assert names[1:] == [
        "dense+bm25 rrf k=10 dense=0,bm25=1",
        "dense+bm25 rrf k=10 dense=0.5,bm25=0.5",
        "dense+bm25 rrf k=10 dense=1,bm25=0",
        "dense+bm25 rrf k=60 dense=0.5,bm25=0.5",  # one route alone ranks alike for any k
        "dense+bm25 minmax dense=0,bm25=1",
        "dense+bm25 minmax dense=0.5,bm25=0.5",
        "dense+bm25 minmax dense=1,bm25=0",
    ]
    assert "weighted" in {c.fusion for c in fusion_grid(["dense", "sparse"], weight_step=0.5)}
    with pytest.raises(InvalidRequestError, match="two or more routes"):
        fusion_grid(["bm25"])
    with pytest.raises(InvalidRequestError, match="unknown fusion"):
        fusion_grid(["dense", "bm25"], fusions=["rrf", "borda"])
    with pytest.raises(InvalidRequestError, match="RRF k"):
        fusion_grid(["dense", "bm25"], rrf_ks=(0,))


def test_split_is_seeded_disjoint_and_complete() -> None:
    ids = [f"q{i}" for i in range(101)]
    tune, held = split_queries(ids, seed=16)
    assert (len(tune), len(held)) == (50, 51)
    assert set(tune).isdisjoint(held) and set(tune) | set(held) == set(ids)
    assert tune == sorted(tune, key=ids.index)  # input order kept
    assert split_queries(ids, seed=16) == (tune, held)
    assert split_queries(ids, seed=17) != (tune, held)
    with pytest.raises(InvalidRequestError, match="cannot be split"):
        split_queries(["only"], seed=1)
    with pytest.raises(InvalidRequestError, match="between 0 and 1"):
        split_queries(ids, seed=1, fraction=1.0)


SAVED = {"routes": ["dense", "bm25"], "fusion": "minmax", "weights": {"dense": 0.2, "bm25": 0.8}}


def test_saved_defaults_fill_only_what_the_request_left_unset() -> None:
    available = ["dense", "bm25"]

    def apply(**options: object) -> tuple[SearchOptions, dict[str, object]]:
        opts = SearchOptions.model_validate(options)
        return apply_saved_defaults(opts, opts.model_fields_set, SAVED, available)

    opts, applied = apply(top_k=5)
    assert applied == SAVED
    assert (opts.fusion, opts.weights, opts.routes, opts.top_k) == (
        "minmax",
        {"dense": 0.2, "bm25": 0.8},
        ["dense", "bm25"],
        5,
    )
    # the fusion settings are one unit: a request's own fusion, weights or k keeps all three
    for own in ({"fusion": "rrf"}, {"rrf_k": 10}, {"weights": {"dense": 1.0}}):
        opts, applied = apply(**own)
        assert applied == {"routes": ["dense", "bm25"]}
        assert opts.fusion == own.get("fusion", "rrf")
    # other routes than the tuned ones: the tuned weights do not fit them
    opts, applied = apply(routes=["bm25"])
    assert applied == {} and opts.fusion == "rrf" and opts.routes == ["bm25"]
    # a saved route this searcher cannot run is not forced on it
    opts2 = SearchOptions()
    assert apply_saved_defaults(opts2, set(), SAVED, ["bm25"]) == (opts2, {})
    assert apply_saved_defaults(opts2, set(), {}, available) == (opts2, {})


def test_saved_defaults_are_checked() -> None:
    assert check_saved_defaults({**SAVED, "rrf_k": None}) == SAVED
    with pytest.raises(ConfigError, match=r"unknown field\(s\) \['top_k'\]"):
        check_saved_defaults({"top_k": 3})
    with pytest.raises(ConfigError, match="invalid"):
        check_saved_defaults({"fusion": "borda"})


@pytest.mark.slow
def test_tune_saves_defaults_that_later_searches_use(
    tmp_path: Path, tiny_beir: Path, tiny_models, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from hybrid_search.cli import app

    monkeypatch.setenv("HYBRID_SEARCH_MILVUS_URI", str(tmp_path / "tune.db"))
    monkeypatch.setenv("HYBRID_SEARCH_EMBEDDING_MODEL", str(tiny_models.embedding_model))
    monkeypatch.setenv("HYBRID_SEARCH_RERANKER_MODEL", str(tiny_models.reranker_model))
    monkeypatch.setenv("HYBRID_SEARCH_DEVICE", "cpu")
    monkeypatch.setenv("HYBRID_SEARCH_MAX_CHUNK_TOKENS", "128")

    def cli(*args: str) -> dict:  # type: ignore[type-arg]
        result = CliRunner().invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return json.loads([x for x in result.stdout.splitlines() if x.startswith("{")][-1])  # type: ignore[no-any-return]

    out = tmp_path / "tune"
    report = cli(
        "tune", str(tiny_beir), "--routes", "dense,bm25", "--rrf-k", "20,60",
        "--weight-step", "0.5", "--save", "--json", "--out", str(out),
    )  # fmt: skip
    assert (report["tune_queries"], report["heldout_queries"]) == (2, 3)
    assert len(report["grid"]) == 1 + 3 + 1 + 3  # default, rrf k=20 (3), k=60 (1), minmax (3)
    assert report["grid"][0]["name"] == "dense+bm25 rrf"
    best = max(report["grid"], key=lambda g: g["metrics"]["ndcg@10"])
    assert report["best"]["name"] == next(  # the first of the best (the default wins a tie)
        g["name"] for g in report["grid"] if g["metrics"]["ndcg@10"] == best["metrics"]["ndcg@10"]
    )
    assert set(report["heldout"]) == {"tuned", "untuned rrf", "dense", "bm25"}
    assert (out / "grid.png").read_bytes()[:4] == b"\x89PNG"
    assert "| tuned |" in (out / "grid.md").read_text()

    # held-out scores are over the held-out queries only: eval's run of the same configuration,
    # restricted to them, scores the same
    evaluated = cli(
        "eval", str(tiny_beir), "--routes", "dense,bm25", "--no-rerank", "--json",
        "--out", str(tmp_path / "eval"),
    )  # fmt: skip
    dataset = load_beir(tiny_beir)
    _, held = split_queries(list(dataset.queries), seed=16)
    run = read_trec_run(tmp_path / "eval" / "runs" / "dense+bm25_rrf.trec")
    qrels = {q: dataset.qrels[q] for q in held}
    assert report["heldout"]["untuned rrf"] == evaluate(qrels, {q: run.get(q, {}) for q in held})
    assert evaluated["collection"] == report["collection"]

    saved = report["saved"]
    assert saved["routes"] == ["dense", "bm25"] and saved["fusion"] == report["best"]["fusion"]
    collection = report["collection"]
    plain = cli("search", "vector database", "--collection", collection, "--no-rerank", "--json")
    assert plain["defaults_applied"] == saved
    assert {plain["option_sources"][f] for f in saved} == {"collection"}
    assert plain["fusion"] == saved["fusion"] and set(plain["routes"]) == {"dense", "bm25"}
    own = cli(
        "search", "vector database", "--collection", collection, "--fusion", "rrf",
        "--routes", "dense,bm25", "--no-rerank", "--json",
    )  # fmt: skip
    assert own["defaults_applied"] == {} and own["fusion"] == "rrf"
    assert own["option_sources"]["fusion"] == own["option_sources"]["routes"] == "request"

    # the same through HTTP: a body that leaves fusion and routes out gets the saved defaults
    from fastapi.testclient import TestClient

    from hybrid_search.service.app import create_app
    from hybrid_search.settings import ApiKey, ServiceSettings, Settings, hash_api_key

    s = Settings(
        _env_file=None,  # type: ignore[call-arg]
        milvus_uri=str(tmp_path / "tune.db"),
        collection=collection,
        embedding_model=str(tiny_models.embedding_model),
        reranker_model=str(tiny_models.reranker_model),
        device="cpu",
        max_chunk_tokens=128,
        service=ServiceSettings(api_keys=[ApiKey(sha256=hash_api_key("k"), tenant="default")]),
    )
    headers = {"Authorization": "Bearer k"}
    with TestClient(create_app(s)) as client:
        body = {"query": "vector database", "rerank": False}
        r = client.post("/v1/search", json=body, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["defaults_applied"] == saved and r.json()["fusion"] == saved["fusion"]
        r = client.post("/v1/search", json={**body, "fusion": "rrf"}, headers=headers)
        assert r.json()["defaults_applied"] == {"routes": ["dense", "bm25"]}


def test_grid_chart_draws_two_and_more_routes(tmp_path: Path) -> None:
    from hybrid_search.evaluation.chart import grid_chart

    for routes, name in (
        (["dense", "bm25"], "two.png"),
        (["dense", "sparse", "bm25"], "three.png"),
    ):
        grid = fusion_grid(routes, rrf_ks=(60,), weight_step=0.5)
        points = [(c, i / len(grid)) for i, c in enumerate(grid)]
        path = grid_chart(points, tmp_path / name, title=name, best=grid[-1])
        assert path.read_bytes()[:4] == b"\x89PNG"
