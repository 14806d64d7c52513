"""Backpressure over HTTP (the gate's own tests: test_admission.py) and the body size limit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from hybrid_search.factory import build_store
from hybrid_search.searcher import HybridSearcher
from hybrid_search.service.app import create_app
from hybrid_search.service.errors import install_error_handlers
from hybrid_search.service.limits import BodySizeLimitMiddleware
from hybrid_search.settings import ServiceSettings, Settings

# -- over HTTP: a searcher whose reranker sleeps ---------------------------------------------


class SleepyReranker:
    name = "sleepy"

    def score(self, query, passages, *, normalize=False, deadline=None):  # type: ignore[no-untyped-def]
        time.sleep(1.0)
        return [float(i) for i in range(len(passages))]


@pytest.fixture(scope="module")
def busy(tmp_path_factory, tiny_models, service_settings, encoder) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    s = service_settings(
        tmp_path_factory.mktemp("limits") / "m.db",
        reranker_model=str(tiny_models.reranker_model),
        service=ServiceSettings(max_concurrency=1, max_queue=0, retry_after_s=2),
    )
    searcher = HybridSearcher(
        build_store(s), encoder, SleepyReranker(), collection=s.collection, settings=s
    )
    with TestClient(create_app(s, searcher=searcher), raise_server_exceptions=False) as client:
        docs = [{"id": f"d{i}", "text": f"Document {i} about sleepy rerankers."} for i in range(3)]
        assert client.post("/v1/documents", json={"documents": docs}).status_code == 200
        yield client
    searcher.close()


def test_saturated_queue_answers_503_with_retry_after(busy) -> None:  # type: ignore[no-untyped-def]
    def search(_: int) -> Any:
        return busy.post(
            "/v1/search", json={"query": "sleepy reranker", "rerank_timeout_ms": 10_000}
        )

    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(search, range(4)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) >= 1 and statuses.count(503) >= 1, statuses
    assert set(statuses) == {200, 503}
    for r in responses:
        if r.status_code == 503:
            assert r.headers["retry-after"] == "2"
            assert r.json()["error"]["code"] == "overloaded"
    # health and readiness do not queue behind the work
    assert busy.get("/healthz").status_code == 200
    metrics = busy.get("/metrics").text
    assert 'hybrid_search_errors_total{code="overloaded"}' in metrics


# -- the body size limit on a bare app -------------------------------------------------------


@pytest.fixture(scope="module")
def echo() -> Iterator[TestClient]:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/echo")
    async def echo_body(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    app.add_middleware(BodySizeLimitMiddleware, max_bytes=1024)
    with TestClient(app) as client:
        yield client


def test_body_at_the_limit_passes_and_one_byte_more_is_413(echo) -> None:  # type: ignore[no-untyped-def]
    assert echo.post("/echo", content=b"x" * 1024).json() == {"bytes": 1024}
    r = echo.post("/echo", content=b"x" * 1025)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"


def test_streamed_body_is_counted_without_content_length(echo) -> None:  # type: ignore[no-untyped-def]
    def gen(n: int) -> Iterator[bytes]:
        for _ in range(n):
            yield b"y" * 100

    assert echo.post("/echo", content=gen(10)).json() == {"bytes": 1000}
    r = echo.post("/echo", content=gen(11))
    assert r.status_code == 413 and r.json()["error"]["details"]["max_bytes"] == 1024


def test_lying_content_length_is_rejected_up_front(echo) -> None:  # type: ignore[no-untyped-def]
    r = echo.post("/echo", content=b"small", headers={"Content-Length": "999999"})
    assert r.status_code == 413


# -- per-key rate limit ----------------------------------------------------------------------


def test_rate_limiter_refills_at_its_rate() -> None:
    from hybrid_search.errors import RateLimitedError
    from hybrid_search.service.limits import RateLimiter

    now = [0.0]
    limiter = RateLimiter(per_minute=2, clock=lambda: now[0])
    limiter.check("a")
    limiter.check("a")
    with pytest.raises(RateLimitedError) as err:
        limiter.check("a")
    assert err.value.details["retry_after_s"] == 30  # one token per 30 s
    limiter.check("b")  # keys are separate buckets
    now[0] = 30.0
    limiter.check("a")


def test_over_the_rate_limit_is_429_with_retry_after(tmp_path, tiny_models, encoder) -> None:  # type: ignore[no-untyped-def]
    from hybrid_search.settings import ApiKey, hash_api_key

    keys = [ApiKey(sha256=hash_api_key(k), tenant=t) for k, t in (("key-a", "a"), ("key-b", "b"))]
    s = Settings(
        _env_file=None,  # type: ignore[call-arg]
        milvus_uri=str(tmp_path / "m.db"),
        embedding_model=str(tiny_models.embedding_model),
        reranker_model=str(tiny_models.reranker_model),
        device="cpu",
        service=ServiceSettings(api_keys=keys, rate_limit_per_minute=2),
    )
    searcher = HybridSearcher(build_store(s), encoder, None, collection=s.collection, settings=s)
    with TestClient(create_app(s, searcher=searcher), raise_server_exceptions=False) as client:
        a = {"X-API-Key": "key-a"}
        assert client.get("/v1/documents/x", headers=a).status_code == 404
        assert client.get("/v1/documents/x", headers=a).status_code == 404
        r = client.get("/v1/documents/x", headers=a)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert r.json()["error"]["code"] == "rate_limited"
        assert client.get("/v1/documents/x", headers={"X-API-Key": "key-b"}).status_code == 404
    searcher.close()
