"""Property-based API tests: schemathesis generates requests from /openapi.json.

Every generated request, valid or not, must get a documented status and content type, a body
matching the schema, never a 5xx, and invalid data must be rejected; the app runs on a real
Milvus Lite with tiny models.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402

from hybrid_search.factory import build_store  # noqa: E402
from hybrid_search.searcher import HybridSearcher  # noqa: E402
from hybrid_search.service.app import create_app  # noqa: E402
from hybrid_search.settings import ApiKey, ServiceSettings, hash_api_key  # noqa: E402

KEY = "schemathesis-key"


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory, tiny_models, service_settings, encoder) -> Iterator[object]:  # type: ignore[no-untyped-def]
    s = service_settings(
        tmp_path_factory.mktemp("props") / "m.db",
        reranker_model=str(tiny_models.reranker_model),
        service=ServiceSettings(
            api_keys=[ApiKey(sha256=hash_api_key(KEY), tenant="props")],
            max_top_k=20,
            max_batch=4,
            max_documents_per_request=4,
            max_query_chars=300,
        ),
    )
    searcher = HybridSearcher(build_store(s), encoder, None, collection=s.collection, settings=s)
    app = create_app(s, searcher=searcher)
    from fastapi.testclient import TestClient

    with TestClient(app):  # runs the lifespan: collection created, models loaded
        yield schemathesis.openapi.from_asgi("/openapi.json", app)
    searcher.close()


@pytest.mark.slow
def test_generated_requests_never_break_the_api(api_schema) -> None:  # type: ignore[no-untyped-def]
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 8
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
        def check(case) -> None:  # type: ignore[no-untyped-def]
            # the service's own limits (top_k, query length, batch size) are settings, not schema
            # bounds, so a schema-valid request may get a documented 400: positive data
            # acceptance is the one check left out
            case.call_and_validate(
                headers={"X-API-Key": KEY},
                excluded_checks=[schemathesis.checks.positive_data_acceptance],
            )

        check()
