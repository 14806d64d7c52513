"""RAG context request and response: search, then pack cited passages into a token budget."""

from __future__ import annotations

from pydantic import BaseModel, Field

from schemas.api import SearchRequest

#: the largest budget a request may ask for; BGE-M3's own context is 8192 tokens, LLM contexts
#: are larger, and 128k keeps one request's tokenisation work bounded
MAX_TOKEN_BUDGET = 131_072


class RagRequest(SearchRequest):
    """A search request plus the size of the context to build from its hits."""

    token_budget: int = Field(
        2048, ge=1, le=MAX_TOKEN_BUDGET, description="most tokens the context may take"
    )
    snippets: bool = Field(
        False,
        description="pack each hit's highlight snippet (at most snippet_chars around its best "
        "match) instead of its whole chunk; turns highlight on",
    )


class Citation(BaseModel):
    """Where the passage behind marker `[n]` comes from."""

    marker: str = Field(description="the marker as it appears in the context, e.g. '[1]'")
    doc_id: str
    chunk_id: str
    title: str
    score: float = Field(description="rerank score when reranking ran, else the fused score")
    start: int | None = Field(
        None, description="the passage is the chunk's text[start:end]; null: the whole chunk"
    )
    end: int | None = None
    section: str | None = Field(None, description="heading path of the passage, 'A > B'")
    page_start: int | None = Field(None, description="first page of the passage (paged sources)")
    page_end: int | None = None


class RagContext(BaseModel):
    """A context string for an LLM prompt and the citations its markers refer to."""

    context: str = Field(description="passages in hit order, each opened by its marker")
    citations: list[Citation]
    tokens: int = Field(description="tokens the context takes, by the service's tokenizer")
    token_budget: int
    omitted: list[str] = Field(
        default_factory=list,
        description="chunk ids of hits left out because they did not fit whole in the budget",
    )


class RagResponse(RagContext):
    """The context plus what the search behind it reported."""

    query: str
    timings_ms: dict[str, float]
    degraded: bool = False
    reasons: list[str] = Field(default_factory=list)
