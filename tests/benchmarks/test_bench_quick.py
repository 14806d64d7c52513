"""`hybrid-search bench --quick` end to end, and the parts it skips in quick mode on tiny models.
Figures are printed, never asserted: timings depend on the machine."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hybrid_search.cli import app


@pytest.mark.slow
def test_quick_bench_prints_every_part(tiny_models, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    md = tmp_path / "bench.md"
    result = CliRunner().invoke(
        app,
        [
            "bench", "--quick", "--no-memory", "--json",
            "--models-dir", str(tiny_models.embedding_model.parent),
            "--work-dir", str(tmp_path / "work"), "--markdown", str(md),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads([x for x in result.stdout.splitlines() if x.startswith("{")][-1])
    print(md.read_text())
    a = report["search_overhead"]
    assert a["project"]["n"] == a["bare_pymilvus"]["n"] == a["queries"] > 0
    assert {"p50_ms", "p95_ms"} <= set(a["project"]) and a["ratio_p50"] is not None
    assert 0.0 <= a["top_k_overlap"] <= 1.0 and 0.0 <= a["explained_top_k_overlap"] <= 1.0
    assert a["project_explained"]["n"] == a["queries"]
    assert "hybrid_search" in a["project_stages"]["project"]  # Milvus fuses natively
    assert "dense" in a["project_stages"]["project_explained"]  # route by route
    assert {"dense", "sparse", "bm25", "colbert", "fuse", "rerank", "total"} <= set(
        report["search_stages"]["stages"]
    )
    tiny = report["ingest_throughput"]["tiny"]
    assert tiny["full_ingest"]["docs_per_s"] > 0 and tiny["encode_only"]["docs_per_s"] > 0
    assert "skipped" in report["real_size_cpu"] and "skipped" in report["memory"]
    assert -1.0 <= report["rerank_int8_agreement_tiny"]["spearman_mean"] <= 1.0
    assert set(report["ratios"]) >= {"search_overhead_p50", "ingest_vs_encode_tiny"}
    assert report["machine"]["cores"] >= 1
    for case in report["boundaries"].values():  # (h) on the first documents of each corpus
        if "skipped" not in case:  # a figure, not a target: the tokenizer decides what is "long"
            assert 0.0 <= case["tiny"]["ends_on_sentence_end"] <= 1.0
            assert case["tiny"]["inner_ends"] == case["tiny"]["starts"] > 0
    rw = report["real_width"]  # (f) at BGE-M3's width, small
    assert {
        "colbert_bytes_per_token",
        "ingest_docs_per_s_colbert",
        "ingest_docs_per_s_no_colbert",
        "ingest_ratio",
        "colbert_stage_p50_ms",
        "search_p50_ms_with_colbert",
        "search_p50_ms_without_colbert",
        "search_ratio",
        "maxsim_ndcg10",
    } <= set(rw)
    assert rw["model"]["dim"] == 1024 and rw["storage"] == "binary" and rw["tokens"] > 0
    assert rw["pool_factor"] == 2  # the default for binary
    assert 128 < rw["colbert_bytes_per_token"] < 4096  # packed bits plus text and row overhead
    if "skipped" not in rw["maxsim_ndcg10"]:
        assert {"float32", "int8", "binary"} <= set(rw["maxsim_ndcg10"])
    assert "| (a) search p50 / p95" in md.read_text()


@pytest.mark.slow
def test_memory_children_report_their_own_peak(tiny_models, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from hybrid_search.benchmarks.corpus import synthetic
    from hybrid_search.benchmarks.memory import measure_memory

    # the served setup: the same child as the embedded one, plus a milvus-lite server process
    out = measure_memory(
        synthetic(3, 1).docs, tmp_path, tiny_models.embedding_model.parent, setups=("served",)
    )
    print(json.dumps(out, indent=1))
    for setup in ("served",):
        assert out[setup]["x1"]["documents"] == 3 and out[setup]["x10"]["documents"] == 30
        assert out[setup]["x10"]["failed"] == 0 and out[setup]["ratio"] is not None
    assert all(v is not None for v in out["served"]["server_peak_rss_mb"].values())


def test_real_size_measurements_run_on_tiny_models(tiny_models) -> None:  # type: ignore[no-untyped-def]
    """The real-size code path (encode, forward, query latency, reranker options, agreement) on
    the tiny models: the same functions the full bench runs on the 24-layer models."""
    from transformers import AutoTokenizer

    from hybrid_search.benchmarks.corpus import _words
    from hybrid_search.benchmarks.realsize import (
        exact_length_texts,
        measure_encoder,
        measure_reranker,
    )

    tok = AutoTokenizer.from_pretrained(str(tiny_models.embedding_model))
    passages = exact_length_texts(tok, _words(), 6, 64)
    assert [len(tok(p)["input_ids"]) for p in passages] == [64] * 6
    enc = measure_encoder(tiny_models.embedding_model, passages[:3], "a short query", 2)
    assert enc["passage_tokens"] == 64 and enc["encode_tokens_per_s"] > 0
    rr = measure_reranker(
        tiny_models.reranker_model,
        "a short query",
        passages,
        {"compute_score": (3,), "single_pass": (3, 6), "single_pass_int8": (3, 6)},
        {3: 1, 6: 1},
    )
    print(json.dumps({"encoder": enc, "reranker": rr}, indent=1))
    assert rr["single_pass_max_abs_diff"] < 1e-4  # one pass gives compute_score's scores
    assert rr["speedup"]["top6"]["single_pass"] is None  # compute_score not timed on top 6
    assert -1.0 <= rr["agreement_int8"]["spearman"] <= 1.0


def test_markdown_goes_between_the_markers(tmp_path: Path) -> None:
    from hybrid_search.cli.bench_cmd import END, START, write_markdown

    path = tmp_path / "b.md"
    write_markdown(path, "table 1\n")
    assert path.read_text() == "table 1\n"
    path.write_text(f"# Benchmarks\nprose\n{START}\nold\n{END}\nmore prose\n")
    write_markdown(path, "table 2\n")
    assert path.read_text() == f"# Benchmarks\nprose\n{START}\ntable 2\n{END}\nmore prose\n"


def test_parts_run_alone_and_a_bad_part_is_refused(tiny_models, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    common = ["bench", "--quick", "--json", "--models-dir", str(tiny_models.embedding_model.parent)]
    bad = CliRunner().invoke(app, [*common, "--parts", "bx"])
    assert bad.exit_code == 2 and "--parts 'bx'" in bad.output
    result = CliRunner().invoke(app, [*common, "--parts", "b", "--work-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads([x for x in result.stdout.splitlines() if x.startswith("{")][-1])
    assert report["ingest_throughput"]["tiny"]["full_ingest"]["docs_per_s"] > 0
    skipped = ("search_overhead", "search_stages", "memory", "real_width", "real_size_cpu")
    for part in (*skipped, "boundaries"):
        assert report[part] == {"skipped": "--parts b"}, part


@pytest.mark.slow
def test_scale_part_grows_and_reuses_its_collections(tmp_path: Path) -> None:
    """(g) at two small sizes: every figure present, the larger size grown from the smaller's
    copy, and a rerun reading the cached collections instead of writing them again."""
    args = [
        "bench", "--parts", "g", "--quick", "--json", "--scale-sizes", "60,120",
        "--scale-cache", str(tmp_path / "cache"), "--work-dir", str(tmp_path / "work"),
    ]  # fmt: skip
    runs = []
    for _ in range(2):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        runs.append(json.loads([x for x in result.stdout.splitlines() if x.startswith("{")][-1]))
    first, again = runs[0]["scale"], runs[1]["scale"]
    print(json.dumps(first, indent=1))
    assert set(first["engines"]) == {"3", "2.5"}  # both Milvus Lite engines, each on its own
    assert [(p["engine"], p["chunks"]) for p in first["points"]] == [
        ("3", 60), ("3", 120), ("2.5", 60), ("2.5", 120)
    ]  # fmt: skip
    assert [p["cached"] for p in first["points"]] == [False] * 4
    assert [p["written_from"] for p in first["points"]] == [0, 60] * 2  # grown from the copy
    assert [p["cached"] for p in again["points"]] == [True] * 4
    for p in first["points"]:
        assert p["write_rows_per_s"] > 0 and p["data_dir_mb"] > 0 and p["rss_mb"] > 0
        for name in ("dense", "sparse", "bm25", "hybrid", "hybrid_explain_off", "colbert_stage"):
            assert p["search"][name]["n"] == 5 and p["search"][name]["p50_ms"] > 0
        assert p["search_cpu"]["hybrid"]["n"] == 5 and p["search_cpu"]["hybrid"]["p50_ms"] > 0
    for engine in first["engines"].values():
        small, large = engine["points"]
        assert large["data_dir_mb"] > small["data_dir_mb"]
        (step,) = engine["growth"]
        assert (step["from"], step["to"]) == (60, 120) and step["data_dir_mb"] is not None
        assert engine["capacity"]["p50_ms"] == engine["capacity_cpu"]["p50_ms"] == 200.0
    default = first["engines"][first["default_engine"]]
    assert first["capacity"] == default["capacity"]
    assert runs[0]["ratios"]["scale_capacity_chunks"] == first["capacity"]["chunks"]


def test_scale_capacity_reads_the_crossing_between_sizes() -> None:
    from hybrid_search.benchmarks.scale import capacity, growth

    def point(n: int, ms: float) -> dict[str, object]:
        lat = {"p50_ms": ms}
        return {"chunks": n, "data_dir_mb": n / 100, "rss_mb": 500.0, "search": dict.fromkeys(
            ("dense", "sparse", "bm25", "hybrid", "hybrid_explain_off",
             "hybrid_3_routes_native", "colbert_stage"), lat)}  # fmt: skip

    pts = [point(10_000, 50.0), point(30_000, 150.0), point(100_000, 800.0)]
    # between 30k (150 ms) and 100k (800 ms): b = ln(800/150)/ln(100/30), n = 30k·(200/150)^(1/b)
    b = math.log(800 / 150) / math.log(100 / 30)
    assert capacity(pts) == {
        "p50_ms": 200.0, "chunks": round(30_000 * (200 / 150) ** (1 / b)), "how": "interpolated"
    }  # fmt: skip
    assert capacity(pts[:2])["how"] == "extrapolated"  # both below: from the last two sizes
    flat = [point(10_000, 40.0), point(100_000, 44.0)]  # 200 ms lies far past 100k
    assert capacity(flat) == {
        "p50_ms": 200.0, "chunks": 100_000, "how": "not reached in the measured sizes"
    }  # fmt: skip
    nearly_flat = [point(60, 46.92), point(120, 46.928)]  # b ~ 2e-4: the power overflowed
    assert capacity(nearly_flat)["how"] == "not reached in the measured sizes"
    assert growth(pts)[0]["hybrid_p50"] == round(math.log(3) / math.log(3), 2) == 1.0
    assert growth(pts)[0]["data_dir_mb"] == 1.0
