"""The chunk key names its document: searches read the document from it."""

from __future__ import annotations

import pytest

from hybrid_search.store.types import chunk_pk, doc_id_of


@pytest.mark.parametrize("doc_id", ["a", "docs/2024/report.md", "x#1#2", "北京#", "#", "a/b#c/d"])
def test_doc_id_of_inverts_chunk_pk(doc_id: str) -> None:
    for tenant, index in (("default", 0), ("acme-1", 17)):
        assert doc_id_of(chunk_pk(tenant, doc_id, index)) == doc_id


@pytest.mark.parametrize("pk", ["no-separators", "tenant/no-index"])
def test_doc_id_of_refuses_a_key_that_is_not_a_chunk_key(pk: str) -> None:
    with pytest.raises(ValueError, match="not a chunk key"):
        doc_id_of(pk)
