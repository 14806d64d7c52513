"""The bench report as README-ready Markdown: every number comes from the report passed in."""

from __future__ import annotations

from typing import Any


def _f(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float | int):
        return f"{value:,.{digits}f}"
    return str(value)


def _lat(d: dict[str, Any] | None) -> str:
    if not d:
        return "n/a"
    return f"{_f(d.get('p50_ms'))} / {_f(d.get('p95_ms'))} ms"


def _skipped(d: Any) -> str | None:
    return d.get("skipped") if isinstance(d, dict) and "skipped" in d else None


def render_markdown(r: dict[str, Any]) -> str:
    m = r.get("machine", {})
    v = m.get("versions", {})
    lines = [
        f"Measured by `hybrid-search bench{' --quick' if r.get('mode') == 'quick' else ''}` "
        f"in {_f(r.get('seconds'), 0)} s on: {m.get('cpu')}, {m.get('cores')} cores "
        f"(torch threads {m.get('torch_threads')}), {_f(m.get('memory_gb'))} GB RAM, "
        f"GPU: {m.get('gpu') or 'none'}; " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".",
        "",
    ]
    c = r.get("corpus", {})
    a = r.get("search_overhead", {})
    lines += [
        f"Corpus: {c.get('name')}, {c.get('documents')} documents ({c.get('chunks')} chunks), "
        "Milvus Lite in the same process, tiny models unless stated.",
        "",
        "| measurement | hybrid-search | baseline | ratio (goal) |",
        "|---|---|---|---|",
        f"| (a) search p50 / p95: routes {'+'.join(a.get('routes', []))}, RRF, top "
        f"{a.get('top_k')} from {a.get('candidates_per_route')} per route, same precomputed "
        f"query vectors, no rerank, explanations off ({a.get('queries')} queries) | "
        f"{_lat(a.get('project'))} | "
        f"bare pymilvus `hybrid_search` + `RRFRanker`: {_lat(a.get('bare_pymilvus'))} | "
        f"{_f(a.get('ratio_p50'), 2)} / {_f(a.get('ratio_p95'), 2)} (≤ 1.10) |",
    ]
    if a.get("project_explained"):
        lines.append(
            "| (a) the same with per-hit explanations (the default): one search per route, RRF "
            "in Python, then every hit scored on every route | "
            f"{_lat(a.get('project_explained'))} | the same bare `hybrid_search` | "
            f"{_f(a.get('explained_ratio_p50'), 2)} / {_f(a.get('explained_ratio_p95'), 2)} |"
        )
    ing = r.get("ingest_throughput", {})
    for key, label in (("tiny", "tiny models"), ("real_size", "real-size model, CPU")):
        d = ing.get(key, {})
        if _skipped(d):
            lines.append(f"| (b) ingest, {label} | skipped: {_skipped(d)} | | |")
            continue
        lines.append(
            f"| (b) ingest, {label}: {d.get('documents')} docs, {d.get('chunks')} chunks, "
            f"ColBERT {'on' if d.get('store_colbert') else 'off'} | "
            f"{_f(d.get('full_ingest', {}).get('docs_per_s'))} docs/s | "
            f"`BGEM3FlagModel.encode` alone: {_f(d.get('encode_only', {}).get('docs_per_s'))} "
            f"docs/s | {_f(d.get('ratio'), 2)} (≥ 0.90) |"
        )
    mem = r.get("memory", {})
    if _skipped(mem):
        lines.append(f"| (c) peak RSS | skipped: {_skipped(mem)} | | |")
    else:
        n, k = mem.get("documents"), mem.get("copies")
        for key, label in (
            ("embedded", "Milvus Lite embedded (process holds the database)"),
            ("served", "Milvus Lite as a separate server (the ingest process alone)"),
        ):
            d = mem.get(key)
            if not d:
                continue
            lines.append(
                f"| (c) peak RSS ingesting {n} docs ×{k} vs ×1, {label} | "
                f"{_f(d.get(f'x{k}', {}).get('peak_rss_mb'), 0)} MB | "
                f"×1: {_f(d.get('x1', {}).get('peak_rss_mb'), 0)} MB | "
                f"{_f(d.get('ratio'), 2)} (≤ 1.2) |"
            )
    lines.append("")
    lines += _real_size(r.get("real_size_cpu", {}), r.get("rerank_int8_agreement_tiny", {}))
    lines += _real_width(r.get("real_width", {}))
    lines += scale_table(r.get("scale", {}))
    e = r.get("search_stages", {})
    if _skipped(e):
        lines += ["", f"Per-stage latency: skipped ({_skipped(e)})."]
    elif e:
        lines += [
            "",
            f"Per-stage latency of the end-to-end search, tiny models, routes "
            f"{'+'.join(e.get('routes', []))}, RRF, rerank top "
            f"{e.get('options', {}).get('rerank_top_n')}, explanations on, one query per request "
            f"({e.get('queries')} queries, {e.get('degraded', 0)} degraded):",
            "",
            "| stage | p50 ms | p95 ms |",
            "|---|---:|---:|",
        ]
        for stage, d in e.get("stages", {}).items():
            lines.append(f"| {stage} | {_f(d.get('p50_ms'), 2)} | {_f(d.get('p95_ms'), 2)} |")
        lines.append(
            f"| wall clock | {_f(e['wall']['p50_ms'], 2)} | {_f(e['wall']['p95_ms'], 2)} |"
        )
    if isinstance(r.get("boundaries"), dict) and not _skipped(r["boundaries"]):
        from hybrid_search.benchmarks.boundaries import render

        lines += ["", *render(r["boundaries"])]
    return "\n".join(lines) + "\n"


def _real_size(d: dict[str, Any], tiny: dict[str, Any]) -> list[str]:
    out: list[str] = []
    tail: list[str] = []  # the precision table, after the reranker rows
    if _skipped(d):
        out.append(f"Real-size CPU costs: skipped ({_skipped(d)}).")
    elif d:
        enc, rr = d.get("encoder", {}), d.get("reranker", {})
        out += [
            f"Real-size CPU costs ({d.get('layers')} layers; {d.get('architecture')}; "
            "loaded through `BGEM3FlagModel` / `FlagReranker`):",
            "",
            "| figure | value |",
            "|---|---|",
            f"| passage encode, the project's encoder (dense + sparse + ColBERT, one forward "
            f"pass per batch), {enc.get('passages')} × {enc.get('passage_tokens')} tokens | "
            f"{_f(enc.get('encode_tokens_per_s'))} tokens/s (encode takes "
            f"{_f(enc.get('encode_vs_forward'), 2)}× a forward pass) |",
            f"| the same batch, `BGEM3FlagModel.encode` | "
            f"{_f(enc.get('flag_encode_tokens_per_s'))} tokens/s ("
            f"{_f(enc.get('flag_encode_vs_forward'), 2)}× a forward pass) |",
            f"| the same batch, one bare forward pass of the same model | "
            f"{_f(enc.get('forward_tokens_per_s'))} tokens/s |",
            f"| query encode, {enc.get('query_tokens')} tokens, p50 / p95 | "
            f"{_lat(enc.get('query_encode'))} |",
        ]
        from hybrid_search.benchmarks.precision import render

        tail = render(enc)
        for top in ("top20", "top100"):
            sp = rr.get("speedup", {}).get(top)
            if sp is None:
                continue
            cells = [
                _f(rr.get(k, {}).get(top, {}).get("p50_ms"), 0)
                if top in rr.get(k, {})
                else "not timed"
                for k in ("compute_score", "single_pass", "single_pass_int8")
            ]
            out.append(
                f"| rerank {top.replace('top', 'top-')} at 256 tokens, p50 ms: "
                f"`compute_score` / single pass / single pass + int8 | "
                + " / ".join(cells)
                + f" (single pass {_f(sp.get('single_pass'), 2)}×, int8 on top "
                f"{_f(sp.get('int8_over_single_pass'), 2)}×) |"
            )
        ag = rr.get("agreement_int8", {})
        out.append(
            f"| int8 vs float32 scores, real-size random weights (top-100 list) | Spearman "
            f"{_f(ag.get('spearman'), 3)}, top-10 overlap {_f(ag.get('top10_overlap'), 2)} |"
        )
        out.append(
            f"| single pass vs `compute_score`, max abs score difference | "
            f"{rr.get('single_pass_max_abs_diff')} |"
        )
    out += tail
    if tiny:
        out += [
            "",
            f"int8 reranker agreement on the tiny reranker ({tiny.get('queries')} queries × "
            f"{tiny.get('passages_per_query')} passages): mean Spearman "
            f"{_f(tiny.get('spearman_mean'), 3)} (min {_f(tiny.get('spearman_min'), 3)}), "
            f"top-5 overlap {_f(tiny.get('top5_overlap_mean'), 2)}, top-10 overlap "
            f"{_f(tiny.get('top10_overlap_mean'), 2)}, max |Δscore| "
            f"{_f(tiny.get('max_abs_score_diff'), 3)} (scores span {tiny.get('score_range')}).",
        ]
    return out


def _real_width(d: dict[str, Any]) -> list[str]:
    if _skipped(d):
        return ["", f"Real width: skipped ({_skipped(d)})."]
    if not d:
        return []
    m = d.get("model", {})
    out = [
        "",
        f"(f) Real width: a {m.get('layers')}-layer model of BGE-M3's width ({m.get('dim')} "
        f"dense and ColBERT dimensions), {d.get('documents')} {d.get('corpus')} documents "
        f"({d.get('chunks')} chunks, {_f(d.get('tokens'), 0)} ColBERT tokens), ColBERT storage "
        f"`{d.get('storage')}`; searches without rerank, {d.get('queries')} queries:",
        "",
        "| figure | value (goal) |",
        "|---|---|",
        f"| stored bytes per ColBERT token, all overhead included | "
        f"{_f(d.get('colbert_bytes_per_token'))} (≤ 160; float32 is 4,096 + overhead) |",
        f"| ingest, ColBERT on / off | {_f(d.get('ingest_docs_per_s_colbert'), 2)} / "
        f"{_f(d.get('ingest_docs_per_s_no_colbert'), 2)} docs/s: "
        f"{_f(d.get('ingest_ratio'), 2)} (≥ 0.8) |",
        f"| search p50, routes dense+sparse+bm25 with / without colbert | "
        f"{_f(d.get('search_p50_ms_with_colbert'))} / "
        f"{_f(d.get('search_p50_ms_without_colbert'))} ms: {_f(d.get('search_ratio'), 2)} "
        "(≤ 1.5) |",
        f"| ColBERT stage p50 / p95 (up to {d.get('rescored_per_query')} candidates) | "
        f"{_lat(d.get('colbert_stage'))} (p50 ≤ 100) |",
        f"| Milvus Lite data directory, ColBERT on / off | "
        f"{_f(d.get('data_dir_mb', {}).get('colbert'))} / "
        f"{_f(d.get('data_dir_mb', {}).get('no_colbert'))} MB |",
    ]
    q = d.get("maxsim_ndcg10", {})
    if _skipped(q):
        out.append(f"| MaxSim quality guard | skipped: {_skipped(q)} |")
    elif q:
        cells = ", ".join(f"{k} {_f(v, 4)}" for k, v in q.items())
        mq = d.get("maxsim_quality", {})
        out.append(
            f"| nDCG@10 of BM25's top {mq.get('depth')} re-ranked by MaxSim on MiniLM token "
            f"vectors ({mq.get('queries')} queries; a stand-in for BGE-M3's ColBERT head) | "
            f"{cells} |"
        )
    return out


def scale_table(d: dict[str, Any]) -> list[str]:
    """(g): per engine, one row per size, then the growth exponents and the capacity figure."""
    if _skipped(d):
        return ["", f"(g) Scale: skipped ({_skipped(d)})."]
    out: list[str] = []
    for key, e in d.get("engines", {}).items():
        default = " (the default engine)" if key == d.get("default_engine") else ""
        out += _engine_scale_table({**d, **e, "engine": f"{e.get('engine')}{default}"})
    return out


def _engine_scale_table(d: dict[str, Any]) -> list[str]:
    def s(p: dict[str, Any], k: str) -> str:
        return _f(p["search"][k]["p50_ms"])

    def both(p: dict[str, Any], k: str) -> str:
        return _lat(p["search"][k])

    def cpu(p: dict[str, Any]) -> str:
        c = {k: _f(v["p50_ms"]) for k, v in p.get("search_cpu", {}).items()}
        return f"{c.get('hybrid')} ({c.get('dense')} / {c.get('sparse')} / {c.get('bm25')})"

    out = [
        "",
        f"(g) Scale: {d.get('engine')}, the project's schema at {d.get('dense_dim')} dimensions, "
        f"ColBERT `{d.get('colbert_storage')}`, precomputed vectors (no encoder), no rerank, "
        f"{d.get('queries')} SciFact claims per size; latency p50 (ms) unless p50 / p95:",
        "",
        "| chunks | write rows/s | dense | sparse | bm25 | ColBERT stage | default hybrid, "
        "explain on (p50 / p95) | explain off (p50 / p95) | dense+sparse+bm25 in one Milvus "
        "hybrid_search | CPU per search p50: default hybrid (dense / sparse / bm25) | data dir MB "
        "| RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in d.get("points", []):
        out.append(
            f"| {p['chunks']:,} | {_f(p.get('write_rows_per_s'))} | {s(p, 'dense')} | "
            f"{s(p, 'sparse')} | {s(p, 'bm25')} | {s(p, 'colbert_stage')} | "
            f"{both(p, 'hybrid')} | {both(p, 'hybrid_explain_off')} | "
            f"{s(p, 'hybrid_3_routes_native')} | {cpu(p)} | {_f(p.get('data_dir_mb'))} | "
            f"{_f(p.get('rss_mb'))} |"
        )
    for g in d.get("growth", []):
        out.append("")
        out.append(
            f"Growth {g['from']:,} → {g['to']:,} chunks (exponent b of cost ∝ chunks^b): "
            + ", ".join(
                f"{k.removesuffix('_p50')} {_f(v, 2)}"
                for k, v in g.items()
                if k not in ("from", "to")
            )
            + "."
        )
    c, cc = d.get("capacity", {}), d.get("capacity_cpu", {})
    if str(c.get("how", "")).startswith("not reached"):
        out += [
            "",
            f"Capacity: the default hybrid search stays under p50 {_f(c.get('p50_ms'), 0)} ms "
            f"up to the largest size measured, {_f(c.get('chunks'), 0)} chunks.",
        ]
        return out
    out += [
        "",
        f"Capacity: the default hybrid search passes p50 {_f(c.get('p50_ms'), 0)} ms at "
        f"~{_f(c.get('chunks'), 0)} chunks by the wall clock ({c.get('how')}), at "
        f"~{_f(cc.get('chunks'), 0)} by its CPU time ({cc.get('how')}).",
    ]
    return out
