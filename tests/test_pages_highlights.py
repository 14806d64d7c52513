"""Pagination and highlights end to end: the searcher, HTTP and the CLI on a real Milvus Lite
with the tiny models, over the first documents of cmrc2018-trial (Chinese, jieba BM25) and a
few English ones."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hybrid_search.errors import InvalidRequestError
from hybrid_search.factory import build_store, collection_spec
from hybrid_search.highlight import highlight, query_terms, tokenize
from hybrid_search.rerank.bge import BGEReranker
from hybrid_search.searcher import HybridSearcher
from hybrid_search.settings import Settings
from ingest.pipeline import IngestJob, IngestOptions
from ingest.readers import read_paths
from schemas.api import SearchResponse
from tests.conftest import shared_dataset

DOCS = 45
ENGLISH = [
    {
        "id": "rrf",
        "title": "Reciprocal rank fusion",
        "text": "Reciprocal rank fusion adds one over k plus rank for every list in which a "
        "document appears. It ignores the scores, so a hybrid search can fuse BM25 and dense "
        "retrieval without calibrating them.",
    },
    {
        "id": "bm25",
        "title": "Okapi BM25",
        "text": "BM25 scores a document by term frequency, inverse document frequency and "
        "document length.",
    },
]
QUERY = "中国的历史和文化"


def _settings(d: Path, tiny_models: Any) -> Settings:
    return Settings(
        _env_file=None,
        milvus_uri=str(d / "m.db"),
        embedding_model=str(tiny_models.embedding_model),
        reranker_model=str(tiny_models.reranker_model),
        device="cpu",
        max_chunk_tokens=128,
        chunk_overlap_tokens=16,
        candidates_per_route=40,
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = shared_dataset("cmrc2018-trial")
    lines = (root / "corpus.jsonl").read_text("utf-8").splitlines()[:DOCS]
    src = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    docs = [json.loads(line) for line in lines]
    rows = [{"id": x["_id"], "title": x["title"], "text": x["text"]} for x in docs] + ENGLISH
    src.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in rows), "utf-8")
    return src


@pytest.fixture(scope="module")
def env(tmp_path_factory, tiny_models, encoder, corpus) -> Iterator[HybridSearcher]:  # type: ignore[no-untyped-def]
    s = _settings(tmp_path_factory.mktemp("pages"), tiny_models)
    store = build_store(s)
    IngestJob(
        store,
        encoder,
        collection_spec(s, encoder),
        IngestOptions(max_chunk_tokens=128, chunk_overlap_tokens=16),
    ).run(read_paths([corpus]))
    reranker = BGEReranker(str(tiny_models.reranker_model), device="cpu")
    searcher = HybridSearcher(store, encoder, reranker, collection=s.collection, settings=s)
    yield searcher
    searcher.close()


def _ids(r: SearchResponse) -> list[str]:
    return [h.chunk_id for h in r.hits]


CONFIGS: dict[str, dict[str, Any]] = {
    # RRF in Python over the four routes, explained, no reranking
    "fused": {"rerank": False},
    # reranked: pages cross the end of the reranked head (rerank_top_n 12, pages of 5)
    "reranked": {"rerank": True, "rerank_top_n": 12},
    # the reranker's order fused with the first stage by RRF
    "rerank_fused": {"rerank": True, "rerank_top_n": 12, "rerank_mode": "fuse"},
    # Milvus fuses (one hybrid_search call), chunks rather than documents
    "milvus_fused": {"rerank": False, "explain": False, "routes": ["dense", "sparse", "bm25"]},
    "chunks_weighted": {"rerank": True, "group_by_doc": False, "fusion": "minmax"},
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_pages_concatenated_equal_one_request_of_all_of_them(env, name) -> None:  # type: ignore[no-untyped-def]
    options = CONFIGS[name]
    top_k, pages = 5, 6
    whole = env.search(QUERY, top_k=top_k * pages, **options)
    assert len(whole.hits) == top_k * pages, "the corpus is deep enough for every page"
    seen: list[str] = []
    previous: set[str] = set()
    for n in range(pages):
        page = env.search(QUERY, top_k=top_k, offset=n * top_k, **options)
        assert page.offset == n * top_k
        ids = _ids(page)
        assert not set(ids) & previous, f"page {n + 1} repeats a hit of page {n}"
        same = whole.hits[n * top_k : (n + 1) * top_k]
        assert ids == _ids(whole)[n * top_k : (n + 1) * top_k]
        assert [h.fused_score for h in page.hits] == [h.fused_score for h in same]
        for h, w in zip(page.hits, same, strict=True):
            assert h.model_dump(exclude={"routes", "rerank_score"}) == w.model_dump(
                exclude={"routes", "rerank_score"}
            )
            assert (h.rerank_score is None) == (w.rerank_score is None)
            if h.rerank_score is not None:
                assert h.rerank_score == pytest.approx(w.rerank_score, rel=1e-5)
            assert {r: s.rank for r, s in h.routes.items()} == {
                r: s.rank for r, s in w.routes.items()
            }
            # scores of the routes that ranked the hit; an explained BM25 score (rank null)
            # depends on which hits are explained together: Milvus Lite computes BM25's
            # statistics over the pk-filtered rows of the explaining search
            for r, s in h.routes.items():
                if s.rank is not None:
                    assert s.score == pytest.approx(w.routes[r].score, rel=1e-5, abs=1e-6)
        previous = set(ids)
        seen += ids
    assert seen == _ids(whole)
    if options.get("rerank"):
        assert whole.reranked


def test_batch_pages_equal_single_pages(env) -> None:  # type: ignore[no-untyped-def]
    queries = [QUERY, "rank fusion of BM25 and dense retrieval"]
    batch = env.search_many(queries, top_k=4, offset=8, rerank=False)
    for q, r in zip(queries, batch, strict=True):
        assert _ids(r) == _ids(env.search(q, top_k=4, offset=8, rerank=False))
        assert _ids(r) == _ids(env.search(q, top_k=12, rerank=False))[8:]


def test_offset_past_the_candidate_depth_is_refused_naming_the_limit(env) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidRequestError, match=r"offset 36 \+ top_k 5 = 41 .* 40") as exc:
        env.search(QUERY, top_k=5, offset=36)
    assert exc.value.details["field"] == "offset"
    assert exc.value.details["limit"] == 40
    assert len(env.search(QUERY, top_k=5, offset=35, rerank=False).hits) == 5  # 40: allowed
    # a deeper candidate list moves the limit
    deeper = env.search(QUERY, top_k=5, offset=36, candidates=50, rerank=False)
    assert deeper.offset == 36 and len(deeper.hits) == 5
    # per-route depths: the deepest route bounds the page
    with pytest.raises(InvalidRequestError, match=r"= 25 is past the candidate depth 12"):
        env.search(
            QUERY,
            top_k=5,
            offset=20,
            routes=["dense", "bm25"],
            candidates={"dense": 10, "bm25": 12},
        )


def test_offset_past_the_last_hit_is_an_empty_page(env) -> None:  # type: ignore[no-untyped-def]
    r = env.search("Okapi BM25", routes=["bm25"], top_k=10, offset=30, rerank=False)
    assert r.hits == [] and r.offset == 30 and not r.degraded


def test_highlights_are_the_collections_jieba_terms_in_each_hit(env) -> None:  # type: ignore[no-untyped-def]
    spec = env.spec()
    assert spec.analyzer == "jieba"
    r = env.search(QUERY, top_k=8, highlight=True, snippet_chars=60, routes=["bm25"], rerank=False)
    terms = query_terms(QUERY, spec.analyzer, stop_words=spec.stop_words)
    assert terms == {"中国", "历史", "文化"}  # 的 and 和 are never marked
    marked = 0
    for h in r.hits:
        assert h.highlight is not None
        expected = highlight(
            QUERY, h.text, spec.analyzer, stop_words=spec.stop_words, snippet_chars=60
        )
        assert h.highlight.spans == list(expected.spans)
        assert h.highlight.snippet == expected.snippet
        assert h.text[h.highlight.snippet_start :].startswith(h.highlight.snippet)
        assert len(h.highlight.snippet) <= 60
        for s, e in h.highlight.spans:
            assert any(t in h.text[s:e].lower() for t in terms)
        # a hit is marked exactly where jieba finds a query term in its text (BM25 also
        # matched 的 and 和, and the title, which holds no spans)
        words = {t.term for t in tokenize(h.text, spec.analyzer, stop_words=spec.stop_words)}
        assert bool(h.highlight.spans) == bool(words & terms)
        marked += bool(h.highlight.spans)
    assert r.hits[0].highlight is not None and r.hits[0].highlight.spans  # BM25's best
    assert marked >= 2
    assert all(h.highlight is None for h in env.search(QUERY, top_k=3, rerank=False).hits)


def test_highlights_in_english(env) -> None:  # type: ignore[no-untyped-def]
    r = env.search("hybrid search with BM25", top_k=2, highlight=True, routes=["bm25"])
    hit = next(h for h in r.hits if h.doc_id == "rrf")
    assert hit.highlight is not None
    assert [hit.text[s:e] for s, e in hit.highlight.spans] == ["hybrid", "search", "BM25"]


@pytest.fixture(scope="module")
def http(env) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from hybrid_search.service.app import create_app

    with TestClient(create_app(env.settings, searcher=env), raise_server_exceptions=False) as c:
        yield c


def test_http_pages_and_highlights(env, http) -> None:  # type: ignore[no-untyped-def]
    body = {"query": QUERY, "top_k": 4, "rerank": False}
    whole = http.post("/v1/search", json={**body, "top_k": 8}).json()
    second = http.post("/v1/search", json={**body, "offset": 4, "highlight": True}).json()
    assert second["offset"] == 4
    assert [h["chunk_id"] for h in second["hits"]] == [h["chunk_id"] for h in whole["hits"][4:]]
    for h in second["hits"]:
        mark = h["highlight"]
        assert h["text"][mark["snippet_start"] :].startswith(mark["snippet"])
        assert all(isinstance(s, list) and len(s) == 2 for s in mark["spans"])
    assert all(h["highlight"] is None for h in whole["hits"])
    r = http.post("/v1/search", json={**body, "offset": 38})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["details"] == {"field": "offset", "limit": 40}
    assert "offset 38 + top_k 4 = 42 is past the candidate depth 40" in error["message"]
    batch = http.post(
        "/v1/search/batch", json={"queries": [QUERY], "top_k": 4, "offset": 4, "rerank": False}
    )
    assert [h["chunk_id"] for h in batch.json()["results"][0]["hits"]] == [
        h["chunk_id"] for h in whole["hits"][4:]
    ]


def test_http_rag_context_of_snippets(env, http) -> None:  # type: ignore[no-untyped-def]
    body = {"query": QUERY, "top_k": 6, "routes": ["bm25"], "token_budget": 400}
    whole = http.post("/v1/rag/context", json=body).json()
    cut = http.post("/v1/rag/context", json={**body, "snippets": True, "snippet_chars": 80})
    assert cut.status_code == 200, cut.text
    cut_ctx = cut.json()
    assert len(cut_ctx["citations"]) >= len(whole["citations"])
    hits = {h.chunk_id: h for h in env.search(QUERY, top_k=6, routes=["bm25"]).hits}
    for c in cut_ctx["citations"]:
        assert 0 < c["end"] - c["start"] <= 80
        assert hits[c["chunk_id"]].text[c["start"] : c["end"]] in cut_ctx["context"]
    assert all(c["start"] is None for c in whole["citations"])


def test_python_remote_client_pages_highlights_and_snippets(env, http) -> None:  # type: ignore[no-untyped-def]
    from hybrid_search.client import HybridSearchClient

    client = HybridSearchClient("http://testserver", http_client=http)
    options: dict[str, Any] = {"top_k": 3, "offset": 3, "rerank": False, "highlight": True}
    remote, local = client.search(QUERY, **options), env.search(QUERY, **options)
    assert remote.offset == 3
    assert [h.chunk_id for h in remote.hits] == [h.chunk_id for h in local.hits]
    assert [h.highlight for h in remote.hits] == [h.highlight for h in local.hits]
    [batch] = client.search_many([QUERY], **options)
    assert [h.chunk_id for h in batch.hits] == [h.chunk_id for h in local.hits]
    ctx = client.rag_context(QUERY, token_budget=300, snippets=True, routes=["bm25"])
    assert ctx.citations and all(c.start is not None for c in ctx.citations)


def test_cli_offset_and_highlight(env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from hybrid_search.cli import app

    s = env.settings  # the CLI opens the same Milvus Lite file (this process's server)
    for key, value in {
        "MILVUS_URI": s.milvus_uri,
        "EMBEDDING_MODEL": s.embedding_model,
        "RERANKER_MODEL": s.reranker_model,
        "DEVICE": "cpu",
        "CANDIDATES_PER_ROUTE": "40",
    }.items():
        monkeypatch.setenv(f"HYBRID_SEARCH_{key}", value)

    def run(*args: str) -> Any:
        result = CliRunner().invoke(app, ["search", QUERY, "--no-rerank", *args])
        assert result.exit_code == 0, result.output
        return result

    def hits(*args: str) -> list[str]:
        out = run(*args, "--json").stdout
        data = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
        return [h["chunk_id"] for h in data["hits"]]

    page, whole = hits("-k", "3", "--offset", "3"), hits("-k", "6")
    assert page == whole[3:]
    table = run("-k", "3", "--offset", "3", "--highlight", "--routes", "bm25").stdout
    assert "│  4 │" in table  # rows are numbered from the offset
    refused = CliRunner().invoke(app, ["search", QUERY, "-k", "5", "--offset", "40"])
    assert refused.exit_code != 0 and "past the candidate depth 40" in refused.output
