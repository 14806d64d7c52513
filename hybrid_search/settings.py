"""Settings from the environment (HYBRID_SEARCH_*), a .env file and CLI options, validated once."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hybrid_search.encoders.loading import PrecisionSetting
from hybrid_search.store.lite_engines import DEFAULT_ENGINE, EngineSetting

DEFAULT_MILVUS_URI = "./data/milvus.db"
BGE_M3_MAX_TOKENS = 8192


class RetrySettings(BaseModel):
    """Retries for transient Milvus errors only (connect, timeout, rate limit)."""

    model_config = {"extra": "forbid"}

    attempts: int = Field(5, ge=1, le=50)
    initial_wait_s: float = Field(0.2, gt=0)
    max_wait_s: float = Field(5.0, gt=0)


class ApiKey(BaseModel):
    """One API key, stored as its SHA-256 hash; bound to a tenant or to the admin scope."""

    model_config = {"extra": "forbid"}

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    tenant: str | None = Field(None, pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    admin: bool = False
    write: bool = Field(True, description="false: a read-only key (writes get 403)")
    name: str = ""


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ServiceSettings(BaseModel):
    """HTTP service limits. Defaults keep one small machine responsive under load."""

    model_config = {"extra": "forbid"}

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    api_keys: list[ApiKey] = Field(default_factory=list)
    max_concurrency: int = Field(2, ge=1, le=256)
    max_queue: int = Field(16, ge=0, le=10_000)
    retry_after_s: int = Field(1, ge=1)
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    max_query_chars: int = Field(4096, ge=1)
    max_top_k: int = Field(100, ge=1, le=1000)
    max_batch: int = Field(64, ge=1)
    max_documents_per_request: int = Field(1000, ge=1)
    #: one file of POST /v1/files (the whole request stays under max_body_bytes)
    max_file_bytes: int = Field(8 * 1024 * 1024, ge=1)
    #: requests per minute per API key (token bucket; over it 429). None: no per-key limit
    rate_limit_per_minute: int | None = Field(None, ge=1)
    #: one tenant's share of the gate (default all slots but one, half the queue); over it 429
    tenant_max_running: int | None = Field(None, ge=1)
    tenant_max_queue: int | None = Field(None, ge=0)
    #: server-side deadlines: past them the work stops between steps and the answer is 504
    search_deadline_s: float = Field(30.0, gt=0)
    write_deadline_s: float = Field(300.0, gt=0)
    #: queries of a batch search per gate job; between jobs the batch checks its deadline and
    #: client, and other tenants' work gets a turn (1: a departed client costs one more query)
    batch_step: int = Field(1, ge=1)
    #: POST /v1/documents with more text than this (bytes) becomes a job: 202 + GET /v1/jobs/{id}
    job_threshold_bytes: int = Field(1024 * 1024, ge=0)
    #: ingest jobs: worker threads, queued jobs in all and per tenant, one job's deadline
    job_workers: int = Field(1, ge=1, le=16)
    job_queue: int = Field(8, ge=1)
    job_per_tenant: int = Field(2, ge=1)
    job_deadline_s: float = Field(3600.0, gt=0)


class Settings(BaseSettings):
    """Every knob, with the env names users' deployments depend on (HYBRID_SEARCH_<FIELD>)."""

    model_config = SettingsConfigDict(
        env_prefix="HYBRID_SEARCH_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
        populate_by_name=True,
    )

    milvus_uri: str = Field(DEFAULT_MILVUS_URI, description="Milvus Lite file or server URI.")
    milvus_token: SecretStr | None = Field(None, description="Milvus token (user:password).")
    milvus_db: str | None = None
    #: the Milvus Lite engine of new files (an existing one keeps the engine that wrote it):
    #: 3 (pure Python), 2.5 (C++; README "How far Lite goes"), auto: 2.5 where installed
    lite_engine: EngineSetting = Field(
        DEFAULT_ENGINE, description="Milvus Lite engine of new files."
    )
    collection: str = Field("documents", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,200}$")
    tenant: str = Field(
        "default", pattern=r"^[A-Za-z0-9_\-]{1,64}$", description="tenant of requests naming none"
    )
    #: where tenants' rows live: partition_key = one collection, the tenant as Milvus partition
    #: key (tenants share indexes); collection = one collection per tenant (README "Tenancy")
    tenancy: Literal["partition_key", "collection"] = "partition_key"

    embedding_model: str = Field("BAAI/bge-m3", description="hub name or local dir.")
    embedding_kind: Literal["bge-m3", "dense"] = Field(
        "bge-m3", description="bge-m3 (dense + sparse + ColBERT) | dense (one dense vector)."
    )
    query_instruction: str | None = None
    pooling: Literal["cls", "mean"] = "cls"
    reranker_model: str = Field("BAAI/bge-reranker-v2-m3", description="hub name or local dir.")
    device: Literal["cpu", "cuda", "auto"] = Field("auto", description="cpu | cuda | auto.")
    use_fp16: Literal["auto", "true", "false"] | bool = Field(
        "auto", description="auto (on GPU) | true | false."
    )
    #: CPU only: the encoder in float32, bf16 or dynamic int8 (README "What it costs"); auto is
    #: bf16 where the CPU has native bf16 (avx512_bf16, AMX), float32 elsewhere
    encoder_precision: PrecisionSetting = Field(
        "auto", description="encoder arithmetic on CPU: auto | float32 | bf16 | int8."
    )
    batch_tokens: int = Field(
        16_384, ge=256, description="padded tokens per encode batch: bounds memory."
    )
    batch_size: int = Field(64, ge=1, le=4096, description="max rows per encode batch.")
    #: documents read, encoded and written together; the unit of idempotent commit
    window_documents: int = Field(256, ge=1)
    max_chunk_tokens: int = Field(
        512,
        ge=16,
        le=BGE_M3_MAX_TOKENS,
        description="tokens per chunk (<= 8192): a paragraph with context, sharp dense vectors.",
    )
    chunk_overlap_tokens: int = Field(
        64, ge=0, description="overlap, so a sentence cut at a boundary is whole in one chunk."
    )
    max_query_tokens: int = Field(
        512, ge=8, le=BGE_M3_MAX_TOKENS, description="longer queries are cut, and say so"
    )

    #: store ColBERT token vectors (4 bytes x dim per token: the costliest part of a collection)
    store_colbert: bool = True
    #: token vectors per Milvus row; 1 also lets ColBERT generate candidates (README, costs)
    colbert_block_tokens: int = Field(16, ge=1, le=64)
    #: ColBERT token storage, recorded per collection (README "ColBERT storage"): binary (sign
    #: bits), int8, float32, none. Unset: binary, or float32 with colbert_block_tokens=1
    colbert_storage: Literal["binary", "int8", "float32", "none"] | None = None
    #: ColBERT tokens pooled into one (Ward clustering, Clavie 2024); None: the collection's,
    #: for a new one 2 with binary/int8, 1 with float32
    colbert_pool_factor: int | None = Field(None, ge=1, le=8)
    colbert_rescore_per_route: int = Field(
        20,
        ge=1,
        le=16384,
        description="ColBERT rescores each other route's top N (cost grows with N; see docs)",
    )
    bm25_analyzer: Literal["jieba", "standard", "english", "chinese"] = Field(
        "jieba", description="jieba | standard | english | chinese (jieba: Chinese and English)."
    )
    #: drop English stop words in the BM25 analyzer (helps English corpora, harmless for Chinese)
    bm25_stop_words: bool = True

    rerank_top_n: int = Field(20, ge=1, le=1000, description="fused hits the reranker scores")
    rerank_batch_tokens: int = Field(8192, ge=256)
    rerank_max_length: int = Field(512, ge=16, le=BGE_M3_MAX_TOKENS)
    rerank_timeout_s: float = Field(30.0, gt=0, description="past it: the fused order, degraded")
    rerank_normalize: bool = Field(False, description="rerank scores as probabilities (sigmoid)")
    #: one forward pass per batch (FlagReranker.compute_score runs its first batch twice)
    rerank_single_pass: bool = True
    #: CPU only: dynamic int8 quantisation of the reranker (faster, scores shift slightly)
    rerank_quantize: bool = False
    candidates_per_route: int = Field(100, ge=1, le=16384, description="each route's depth")
    rrf_k: int = Field(60, ge=1, description="RRF constant: higher flattens each route's head")
    lite_capacity_chunks: int | None = Field(
        None,
        ge=1,
        description="Milvus Lite chunks `stats` and `doctor` warn past (unset: the engine's).",
    )

    retry: RetrySettings = Field(default_factory=RetrySettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)

    @field_validator("bm25_analyzer")
    @classmethod
    def _analyzer_on_lite(cls, value: str, info: ValidationInfo) -> str:
        if value in ("english", "chinese") and is_lite_uri(str(info.data.get("milvus_uri", ""))):
            raise ValueError(
                f"'{value}' needs a Milvus server; Milvus Lite has the 'standard' (English) "
                "and 'jieba' (Chinese and English) analyzers"
            )
        return value

    @field_validator("use_fp16", mode="before")
    @classmethod
    def _fp16_text(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    def resolved_device(self) -> str:
        if self.device != "auto":
            return self.device
        import torch  # deferred: only model-loading paths pay for it

        return "cuda" if torch.cuda.is_available() else "cpu"

    def is_milvus_lite(self) -> bool:
        return is_lite_uri(self.milvus_uri)


def is_lite_uri(uri: str) -> bool:
    """Milvus Lite is a local file path; servers are http(s)/tcp/unix URIs."""
    return not uri.startswith(("http://", "https://", "tcp://", "grpc://", "unix:"))


def redact_uri(uri: str) -> str:
    """`uri` as it may be logged or shown: a user and password (`https://user:secret@host`)
    and query parameters (`?token=...`) are replaced by `***`."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(uri)
    except ValueError:
        return "<unparsable URI>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def ensure_parent_dir(uri: str) -> None:
    if is_lite_uri(uri):
        Path(uri).expanduser().parent.mkdir(parents=True, exist_ok=True)
