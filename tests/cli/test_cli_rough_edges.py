"""The rough edges of a user's first hour, each as the user typed it: `drop`, an empty table that
says why, a route the query has nothing for, and errors that name the command to run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hybrid_search.cli import app
from tests.cli.test_first_minutes import cli_env, ingest_two, invoke, last_json

__all__ = ["cli_env"]


def ingest_for(tenant: str, tmp_path: Path) -> None:
    src = tmp_path / f"{tenant}.jsonl"
    src.write_text(json.dumps({"id": f"{tenant}-doc", "text": "Milvus for a tenant."}) + "\n")
    result = invoke("ingest", str(src), "--tenant", tenant, "--json")
    assert result.exit_code == 0, result.output


def documents(*args: str) -> int:
    result = invoke("stats", "--json", *args)
    assert result.exit_code == 0, result.output
    return int(last_json(result.stdout)["documents"])


def test_drop_asks_first_and_then_drops_the_collection(cli_env: Path) -> None:
    ingest_two(cli_env.parent)
    refused = CliRunner().invoke(app, ["drop", "first"], input="n\n")
    assert refused.exit_code == 2
    assert "drop collection 'first'" in refused.stderr and "(2 documents)?" in refused.stderr
    assert "not dropped" in refused.stderr and "--yes" in refused.stderr
    unanswered = CliRunner().invoke(app, ["drop", "first"])  # no terminal, no answer
    assert unanswered.exit_code == 2 and "--yes" in unanswered.stderr
    assert documents() == 2

    asked = CliRunner().invoke(app, ["drop", "first"], input="y\n")
    assert asked.exit_code == 0, asked.output
    assert "dropped collection 'first'" in asked.stdout
    gone = invoke("stats")
    assert gone.exit_code != 0 and "collection 'first' not found" in gone.stderr

    again = invoke("drop", "first", "--yes")
    assert again.exit_code == 1
    assert "no collection 'first'" in again.stderr and "HYBRID_SEARCH_MILVUS_URI" in again.stderr


def test_drop_with_a_tenant_drops_only_that_tenants_documents(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_two(cli_env.parent)
    for tenant in ("team-a", "team-b"):
        ingest_for(tenant, cli_env.parent)
    result = invoke("drop", "first", "--tenant", "team-a", "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert last_json(result.stdout) == {"dropped": "first", "tenant": "team-a", "documents": 1}
    assert (documents("--tenant", "team-a"), documents()) == (0, 3)

    monkeypatch.setenv("HYBRID_SEARCH_TENANT", "team-b")  # a tenant set in the environment
    result = invoke("drop", "first", "--yes")
    assert result.exit_code == 0, result.output
    assert "dropped tenant 'team-b's 1 documents in collection 'first'" in result.stdout
    monkeypatch.delenv("HYBRID_SEARCH_TENANT")
    assert documents() == 2


def test_a_collection_that_does_not_match_names_the_drop_command(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_two(cli_env.parent)
    monkeypatch.setenv("HYBRID_SEARCH_BM25_ANALYZER", "standard")
    result = invoke("ingest", str(cli_env.parent / "docs.jsonl"))
    assert result.exit_code != 0
    assert "`hybrid-search drop first`" in result.stderr and "re-ingest" in result.stderr
    assert invoke("drop", "first", "--yes").exit_code == 0
    ingest_two(cli_env.parent)  # what the message said to do, and it works


def test_an_empty_table_says_why(cli_env: Path) -> None:
    ingest_two(cli_env.parent)
    nobody = invoke("search", "Milvus", "--tenant", "nobody", "--routes", "bm25", "--no-rerank")
    assert nobody.exit_code == 0, nobody.output
    assert "no hits: tenant 'nobody' has no documents in collection 'first'" in nobody.stdout
    no_match = '{"field": "metadata.year", "op": "gte", "value": 2019}'
    filtered = invoke("search", "Milvus", "--filter", no_match, "--routes", "bm25", "--no-rerank")
    assert filtered.exit_code == 0, filtered.output
    assert "no hits: filter: no document of tenant 'default' has the field 'metadata.year'" in (
        " ".join(filtered.stdout.split())
    )


def test_a_query_with_no_lexical_weight_skips_sparse_without_a_fault(cli_env: Path) -> None:
    ingest_two(cli_env.parent)
    # the demo's third query: the tiny models weigh each of its tokens 0 or less
    q = "Milvus 向量数据库 BM25"
    result = invoke("search", q, "--routes", "sparse,bm25", "--no-rerank")
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "route sparse skipped: sparse: the model gives no query token a positive" in out
    assert "failed" not in out
