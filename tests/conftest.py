"""Shared fixtures: tiny models built once per session, a real Milvus Lite per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from hybrid_search.encoders.bge_m3 import quiet_transformers
    from hybrid_search.encoders.tiny import build_tiny_models

    quiet_transformers()
    return build_tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def encoder(tiny_models):  # type: ignore[no-untyped-def]
    from hybrid_search.encoders.bge_m3 import BGEM3Encoder

    enc = BGEM3Encoder(str(tiny_models.embedding_model), device="cpu", max_passage_tokens=512)
    enc.load()
    return enc


@pytest.fixture(scope="session")
def service_settings(tiny_models):  # type: ignore[no-untyped-def]
    """`make(db, **more)`: settings for a service over the tiny embedding model in `db`, with
    64-token chunks (8 overlap), no reranker unless `more` names one."""
    from hybrid_search.settings import Settings

    def make(db: Path, **more: object) -> Settings:
        return Settings(
            _env_file=None,  # type: ignore[call-arg]
            milvus_uri=str(db),
            embedding_model=str(tiny_models.embedding_model),
            device="cpu",
            max_chunk_tokens=64,
            chunk_overlap_tokens=8,
            **more,  # type: ignore[arg-type]
        )

    return make


@pytest.fixture
def settings(tmp_path: Path, tiny_models):  # type: ignore[no-untyped-def]
    from hybrid_search.settings import Settings

    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        milvus_uri=str(tmp_path / "milvus.db"),
        embedding_model=str(tiny_models.embedding_model),
        reranker_model=str(tiny_models.reranker_model),
        device="cpu",
        max_chunk_tokens=128,
        chunk_overlap_tokens=16,
    )


@pytest.fixture
def store(settings) -> Iterator[object]:  # type: ignore[no-untyped-def]
    from hybrid_search.factory import build_store

    s = build_store(settings)
    yield s
    s.close()


@pytest.fixture
def spec(settings, encoder):  # type: ignore[no-untyped-def]
    from hybrid_search.factory import collection_spec

    return collection_spec(settings, encoder)


def shared_dataset(name: str) -> Path:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"../shared/datasets/{name} not present")
    return path
