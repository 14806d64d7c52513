"""Hostile requests against a live `serve`: raw HTTP (`cases/http.jsonl`) and the Python client
(`cases/client.jsonl`). Every answer must be the expected status and error code, in the one
error shape, with no stack trace or internals, and never a 5xx."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx

from hybrid_search.client import HybridSearchClient
from hybrid_search.errors import APIError, HybridSearchError
from tests.reliability.case_data import CASES, CaseResult, expand, leaks, load_jsonl

_MiB = 1024 * 1024


def _fields(details: dict[str, Any]) -> list[str]:
    """Every place an error names a field: details.field, details.path, details.errors[].field."""
    found = [str(details[k]) for k in ("field", "path") if details.get(k)]
    errors = details.get("errors")
    if isinstance(errors, list):
        found += [str(e.get("field")) for e in errors if isinstance(e, dict) and e.get("field")]
    return found


def field_named(want: str, details: dict[str, Any]) -> bool:
    """`want` is one of the named fields, or a component of one ("body.routes.0" names routes)."""
    return any(f == want or want in re.split(r"[.\[\]]+", f) for f in _fields(details))


def _summary_problems(expect: dict[str, Any], body: Any) -> list[str]:
    problems = []
    summary = body if isinstance(body, dict) else {}
    for key, want in expect.get("summary", {}).items():
        if summary.get(key) != want:
            problems.append(f"summary {key} = {summary.get(key)}, expected {want}")
    errors = summary.get("errors", [])
    for want in expect.get("errors", []):
        match = [
            e
            for e in errors
            if all(e.get(k) == want[k] for k in ("line", "field") if k in want)
            and str(want.get("contains", "")) in str(e.get("message", ""))
        ]
        if not match:
            problems.append(f"no error like {want}; got {errors}")
    return problems


# -- raw HTTP --------------------------------------------------------------------------------


def _chunks(data: bytes) -> Iterator[bytes]:
    for i in range(0, len(data), _MiB):
        yield data[i : i + _MiB]


def _request(case: dict[str, Any], keys: dict[str, str | None]) -> dict[str, Any]:
    headers: dict[str, str] = {}
    key = keys[case.get("key", "H")]
    if key:
        headers["Authorization"] = f"Bearer {key}"
    headers.update(expand(case.get("headers", {})))
    content: bytes | Iterator[bytes] | None = None
    if "json" in case:
        content = json.dumps(expand(case["json"]), ensure_ascii=False).encode("utf-8")
    elif "raw" in case:
        content = case["raw"].encode("utf-8")
    elif "body_file" in case:
        content = (CASES / case["body_file"]).read_bytes()
    elif "generate" in case:
        gen = case["generate"]
        if gen["kind"] == "oversize":
            data = b'{"documents": ["' + b"x" * gen["bytes"] + b'"]}'
            content = _chunks(data) if gen.get("chunked") else data
        elif gen["kind"] == "big_document":
            text = "The quick brown fox. 熊猫吃竹子。 " * (gen["bytes"] // 40)
            doc = {"id": case["id"], "text": text}
            content = json.dumps({"documents": [doc]}, ensure_ascii=False).encode("utf-8")
    if content is not None:
        headers["Content-Type"] = case.get("content_type", "application/json")
    return {
        "method": case["method"],
        "url": expand(case["path"]),
        "headers": headers,
        "content": content,
    }


def judge_http(expect: dict[str, Any], response: httpx.Response) -> list[str]:
    problems: list[str] = []
    status = response.status_code
    if status != expect["status"]:
        problems.append(f"status {status}, expected {expect['status']}: {response.text[:300]}")
    if status >= 500:
        problems.append(f"a server error: {response.text[:300]}")
    if found := leaks(response.text):
        problems.append(f"the response leaks {found}")
    try:
        body = response.json()
    except ValueError:
        return [*problems, f"not JSON: {response.text[:200]!r}"]
    if status >= 400:
        err = body.get("error") if isinstance(body, dict) else None
        if not (isinstance(err, dict) and {"code", "message", "details"} <= set(err)):
            return [*problems, f"not the error shape: {body}"]
        if "code" in expect and err["code"] != expect["code"]:
            problems.append(f"code {err['code']}, expected {expect['code']}")
        if "field" in expect and not field_named(expect["field"], err["details"]):
            problems.append(f"error does not name field {expect['field']!r}: {err}")
        if expect.get("contains", "") not in str(err["message"]):
            problems.append(f"message {err['message']!r} lacks {expect['contains']!r}")
        if status in (429, 503) and "retry-after" not in response.headers:
            problems.append(f"{status} without Retry-After")
    elif isinstance(body, dict):
        if "hits_max" in expect and len(body.get("hits", [])) > expect["hits_max"]:
            problems.append(f"{len(body['hits'])} hits, expected at most {expect['hits_max']}")
        if status == 202 and "job_id" in body:  # a large write became a job: judge its outcome
            body = _finished_job(response, str(body["job_id"]))
            if body.get("state") != "done":
                problems.append(f"job ended {body.get('state')}: {body.get('error')}")
            body = body.get("summary") or {}
        problems += _summary_problems(expect, body)
    return problems


def _finished_job(response: httpx.Response, job_id: str, timeout_s: float = 300.0) -> Any:
    """Poll GET /v1/jobs/{id} with the request's own key until the job has ended."""
    url = response.request.url.copy_with(path=f"/v1/jobs/{job_id}", query=None)
    auth = {"Authorization": response.request.headers.get("Authorization", "")}
    deadline = time.monotonic() + timeout_s
    while True:
        job = httpx.get(url, headers=auth, timeout=30).json()
        if job.get("state") not in ("queued", "running") or time.monotonic() > deadline:
            return job
        time.sleep(0.5)


def run_http_cases(base_url: str, keys: dict[str, str | None]) -> list[CaseResult]:
    results = []
    with httpx.Client(base_url=base_url, timeout=300) as http:
        for case in load_jsonl("http.jsonl"):
            result = CaseResult("http", case["id"])
            started = time.monotonic()
            try:
                response = http.request(**_request(case, keys))
                result.problems = judge_http(case["expect"], response)
            except httpx.HTTPError as exc:
                result.problems = [f"transport error {type(exc).__name__}: {exc}"]
            result.seconds = round(time.monotonic() - started, 2)
            results.append(result)
    return results


# -- the Python client -----------------------------------------------------------------------


def judge_client(expect: dict[str, Any], outcome: Any, exc: BaseException | None) -> list[str]:
    if "raises" in expect:
        if exc is None:
            return [f"returned {str(outcome)[:200]}, expected {expect['raises']}"]
        problems = []
        if type(exc).__name__ != expect["raises"]:
            problems.append(f"raised {type(exc).__name__}: {exc}, expected {expect['raises']}")
        details = exc.details if isinstance(exc, HybridSearchError) else {}
        if "field" in expect and not field_named(expect["field"], details):
            problems.append(f"error does not name field {expect['field']!r}: {exc} {details}")
        if expect.get("contains", "") not in str(exc):
            problems.append(f"{exc} lacks {expect['contains']!r}")
        if isinstance(exc, APIError):
            if "status" in expect and exc.status_code != expect["status"]:
                problems.append(f"status {exc.status_code}, expected {expect['status']}")
            if "code" in expect and exc.code != expect["code"]:
                problems.append(f"code {exc.code}, expected {expect['code']}")
            if exc.status_code >= 500:
                problems.append(f"a server error: {exc}")
        if found := leaks(str(exc)):
            problems.append(f"the error leaks {found}")
        return problems
    if exc is not None:
        return [f"raised {type(exc).__name__}: {exc}"]
    problems = []
    if "hits_max" in expect and len(outcome.hits) > expect["hits_max"]:
        problems.append(f"{len(outcome.hits)} hits, expected at most {expect['hits_max']}")
    if "results" in expect and len(outcome) != expect["results"]:
        problems.append(f"{len(outcome)} results, expected {expect['results']}")
    if "summary" in expect:
        problems += _summary_problems(expect, outcome.model_dump())
    return problems


def run_client_cases(base_url: str, key: str) -> list[CaseResult]:
    results = []
    with HybridSearchClient(base_url, key, retries=0, timeout=300) as client:
        for case in load_jsonl("client.jsonl"):
            result = CaseResult("client", case["id"])
            started = time.monotonic()
            outcome: Any = None
            error: BaseException | None = None
            try:
                method = getattr(client, case["call"])
                outcome = method(*expand(case["args"]), **expand(case["kwargs"]))
            except Exception as exc:  # judged against the expected exception below
                error = exc
            result.problems = judge_client(case["expect"], outcome, error)
            result.seconds = round(time.monotonic() - started, 2)
            results.append(result)
    return results
