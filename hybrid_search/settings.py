"""Settings from the environment (HYBRID_SEARCH_*), a .env file and CLI options, validated once."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    #: requests per minute per API key (a token bucket allowing bursts of the same size);
    #: over it: 429 with Retry-After. None: no per-key limit (the concurrency gate still holds)
    rate_limit_per_minute: int | None = Field(None, ge=1)
    #: one tenant's share of the gate: running jobs (default all slots but one, so another
    #: tenant always finds one) and queue places (default half the queue); over it: 429
    tenant_max_running: int | None = Field(None, ge=1)
    tenant_max_queue: int | None = Field(None, ge=0)
    #: server-side deadlines: past them the work stops between steps and the answer is 504
    search_deadline_s: float = Field(30.0, gt=0)
    write_deadline_s: float = Field(300.0, gt=0)
    #: queries of a batch search run per gate job; between jobs the batch checks its deadline
    #: and its client, and other tenants' work gets a turn. 1: a departed client's batch stops
    #: after at most one more query (the noisy-neighbour run's abandoned work: 2-3 s, 8-10 s at 4)
    batch_step: int = Field(1, ge=1)
    #: POST /v1/documents with more text than this (bytes) becomes a job: 202 + GET /v1/jobs/{id}
    job_threshold_bytes: int = Field(1024 * 1024, ge=0)
    #: ingest jobs: worker threads (outside the search gate), queued jobs in all and per tenant,
    #: and the deadline of one job
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

    milvus_uri: str = DEFAULT_MILVUS_URI
    milvus_token: SecretStr | None = None
    milvus_db: str | None = None
    collection: str = Field("documents", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,200}$")
    tenant: str = Field("default", pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    #: where tenants' rows live (README "Tenancy"): partition_key = one collection, the tenant
    #: as Milvus partition key (cheap; tenants share indexes and search cost); collection = one
    #: collection per tenant (a tenant's volume never enters another's search)
    tenancy: Literal["partition_key", "collection"] = "partition_key"

    embedding_model: str = "BAAI/bge-m3"
    #: "bge-m3" (dense + sparse + ColBERT) or "dense" (FlagModel / sentence-transformers)
    embedding_kind: Literal["bge-m3", "dense"] = "bge-m3"
    query_instruction: str | None = None
    pooling: Literal["cls", "mean"] = "cls"
    reranker_model: str = "BAAI/bge-reranker-v2-m3"
    device: Literal["cpu", "cuda", "auto"] = "auto"
    use_fp16: Literal["auto", "true", "false"] | bool = "auto"

    #: tokens per encode batch (padded length x rows); bounds memory, not the item count
    batch_tokens: int = Field(16_384, ge=256)
    #: upper bound on rows per encode batch, whatever their length
    batch_size: int = Field(64, ge=1, le=4096)
    #: documents read, encoded and written together; the unit of idempotent commit
    window_documents: int = Field(256, ge=1)
    #: 512 tokens: long enough for a paragraph with context, short enough for sharp dense vectors
    max_chunk_tokens: int = Field(512, ge=16, le=BGE_M3_MAX_TOKENS)
    #: 64 tokens of overlap so a sentence cut at a boundary is whole in one of the two chunks
    chunk_overlap_tokens: int = Field(64, ge=0)
    max_query_tokens: int = Field(512, ge=8, le=BGE_M3_MAX_TOKENS)

    #: store ColBERT token vectors (4 bytes x dim per token: the costliest part of a collection)
    store_colbert: bool = True
    #: token vectors packed per Milvus row; 1 = one row per token, which lets the colbert route
    #: also generate candidates by token ANN search, at ~3.5x the write cost (see README)
    colbert_block_tokens: int = Field(16, ge=1, le=64)
    #: how ColBERT token vectors are stored (recorded per collection; see README "ColBERT
    #: storage"): binary = sign bits, 1/32 of float32, scored against full-precision query
    #: tokens; int8 = per-token scale; float32 = exact; none = no token vectors. Unset: binary,
    #: or float32 with colbert_block_tokens=1 (token ANN search needs float vectors)
    colbert_storage: Literal["binary", "int8", "float32", "none"] | None = None
    #: ColBERT document tokens merged into one stored token (Ward clustering, Clavie 2024);
    #: None: the collection's recorded factor, for a new one 2 with binary/int8, 1 with float32
    colbert_pool_factor: int | None = Field(None, ge=1, le=8)
    #: ColBERT rescores the union of each other route's top N candidates (its token vectors are
    #: read from Milvus per candidate: the cost grows with N). 20: on SciFact, MaxSim over BM25's
    #: top 20 ranks as well as over its top 40-100 (nDCG@10 0.698 vs 0.696-0.697), top 10 worse
    colbert_rescore_per_route: int = Field(20, ge=1, le=16384)

    #: Milvus analyzer for the BM25 text field; jieba segments Chinese and splits English on words
    bm25_analyzer: Literal["jieba", "standard", "english", "chinese"] = "jieba"
    #: drop English stop words in the BM25 analyzer (helps English corpora, harmless for Chinese)
    bm25_stop_words: bool = True

    rerank_top_n: int = Field(20, ge=1, le=1000)
    rerank_batch_tokens: int = Field(8192, ge=256)
    rerank_max_length: int = Field(512, ge=16, le=BGE_M3_MAX_TOKENS)
    rerank_timeout_s: float = Field(30.0, gt=0)
    rerank_normalize: bool = False
    #: score each batch with one forward pass of FlagReranker's own model and tokenization;
    #: FlagReranker.compute_score (FlagEmbedding 1.4) runs its first batch twice to probe memory
    rerank_single_pass: bool = True
    #: CPU only: dynamic int8 quantisation of the reranker's Linear layers (faster, scores shift
    #: slightly; `hybrid-search bench` measures the speed-up and the agreement)
    rerank_quantize: bool = False
    candidates_per_route: int = Field(100, ge=1, le=16384)
    rrf_k: int = Field(60, ge=1)

    retry: RetrySettings = Field(default_factory=RetrySettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)

    @field_validator("use_fp16", mode="before")
    @classmethod
    def _fp16_text(cls, value: object) -> object:
        if isinstance(value, str):
            return value.lower()
        return value

    def resolved_device(self) -> str:
        if self.device != "auto":
            return self.device
        import torch  # deferred: only model-loading paths pay for it

        return "cuda" if torch.cuda.is_available() else "cpu"

    def resolved_fp16(self) -> bool:
        """fp16 on GPU by default; on CPU it is slower and less exact, so off."""
        if isinstance(self.use_fp16, bool):
            return self.use_fp16
        if self.use_fp16 == "auto":
            return self.resolved_device() == "cuda"
        return self.use_fp16 == "true"

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
