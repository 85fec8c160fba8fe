"""The HTTP contract of DESIGN §5 against a real Redis: success paths and every error code."""

from __future__ import annotations

import io
import json
import zlib
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from rq.job import Job
from rq.serializers import JSONSerializer
from sreplat_apps.contract import JobView

from tests.apps.conftest import post_process, queued_job_ids

pytestmark = pytest.mark.redis


def _error(response: object) -> dict[str, object]:
    body = response.get_json()  # type: ignore[attr-defined]
    assert set(body) == {"error", "trace_id"}
    assert set(body["error"]) >= {"code", "message"}
    assert len(body["trace_id"]) == 32
    return body["error"]  # type: ignore[no-any-return]


def test_process_enqueues_a_json_job_and_answers_202(client: FlaskClient, redis_client: Redis) -> None:
    response = post_process(client, {"task": "sha256", "payload": {"data": "abc", "rounds": 2}})

    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "queued"
    assert response.headers["Location"] == f"/jobs/{body['job_id']}"
    assert queued_job_ids(redis_client) == [body["job_id"]]
    job = Job.fetch(body["job_id"], connection=redis_client, serializer=JSONSerializer)
    assert job.func_name == "sreplat_apps.tasks.sha256"
    assert job.kwargs == {"data": "abc", "rounds": 2}
    assert job.timeout == 60
    assert job.result_ttl == 3600
    assert job.failure_ttl == 7 * 24 * 3600
    assert job.retries_left == 3
    assert job.retry_intervals == [1, 5, 30]
    assert job.meta["task"] == "sha256"
    assert job.meta["trace"]["traceparent"].startswith("00-")
    # JSON, never pickle: the stored job data is readable JSON.
    raw = redis_client.hget(job.key, "data")
    assert raw is not None
    assert json.loads(zlib.decompress(raw))[0] == "sreplat_apps.tasks.sha256"


def test_sleep_job_timeout_covers_the_sleep(client: FlaskClient, redis_client: Redis) -> None:
    response = post_process(client, {"task": "sleep", "payload": {"ms": 60_000}})

    job = Job.fetch(response.get_json()["job_id"], connection=redis_client, serializer=JSONSerializer)
    assert job.timeout == 70


def test_same_idempotency_key_gives_the_same_job_and_enqueues_nothing_new(
    client: FlaskClient, redis_client: Redis
) -> None:
    body = {"task": "echo", "payload": {"n": 1}}
    first = post_process(client, body, **{"Idempotency-Key": "order-42"})
    second = post_process(client, body, **{"Idempotency-Key": "order-42"})

    assert first.status_code == second.status_code == 202
    assert first.get_json()["job_id"] == second.get_json()["job_id"]
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
    assert queued_job_ids(redis_client) == [first.get_json()["job_id"]]


def test_idempotency_key_reused_with_another_body_is_refused(
    client: FlaskClient, redis_client: Redis
) -> None:
    post_process(client, {"task": "echo", "payload": {"n": 1}}, **{"Idempotency-Key": "k1"})
    response = post_process(client, {"task": "echo", "payload": {"n": 2}}, **{"Idempotency-Key": "k1"})

    assert response.status_code == 422
    assert _error(response)["code"] == "idempotency_key_reused"
    assert len(queued_job_ids(redis_client)) == 1


@pytest.mark.parametrize("key", ["", " x", "-starts-with-dash", "has space", "é", "a" * 256, "semi;colon"])
def test_malformed_idempotency_key_is_422_and_nothing_is_enqueued(
    client: FlaskClient, redis_client: Redis, key: str
) -> None:
    response = client.post(
        "/process",
        data=json.dumps({"task": "echo", "payload": {}}),
        headers={"Content-Type": "application/json", "Idempotency-Key": key},
    )

    assert response.status_code == 422
    assert _error(response)["code"] == "invalid_idempotency_key"
    assert queued_job_ids(redis_client) == []


def test_unknown_task_is_422_and_nothing_is_enqueued(client: FlaskClient, redis_client: Redis) -> None:
    response = post_process(client, {"task": "rm -rf", "payload": {}})

    assert response.status_code == 422
    assert _error(response)["code"] == "unknown_task"
    assert queued_job_ids(redis_client) == []


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"task": "sha256", "payload": {"data": "x", "rounds": 0}}, "payload.rounds"),
        ({"task": "sha256", "payload": {"data": "x", "rounds": 100_001}}, "payload.rounds"),
        ({"task": "sha256", "payload": {"data": 5}}, "payload.data"),
        ({"task": "sleep", "payload": {"ms": 60_001}}, "payload.ms"),
        ({"task": "sleep", "payload": {"ms": "10"}}, "payload.ms"),
        ({"task": "sleep", "payload": {"ms": True}}, "payload.ms"),
        ({"task": "sleep", "payload": {"ms": 1, "extra": 1}}, "payload.extra"),
        ({"task": "echo", "payload": [1, 2]}, "payload"),
        ({"task": "echo"}, "payload"),
        ({"task": "echo", "payload": {}, "priority": 9}, "priority"),
    ],
)
def test_schema_violations_are_422_with_the_place_and_nothing_is_enqueued(
    client: FlaskClient, redis_client: Redis, body: object, loc: str
) -> None:
    response = post_process(client, body)

    assert response.status_code == 422
    error = _error(response)
    assert error["code"] == "invalid_request"
    assert loc in [detail["loc"] for detail in error["details"]]  # type: ignore[union-attr]
    assert queued_job_ids(redis_client) == []


@pytest.mark.parametrize("body", [[], "echo", 3, None])
def test_a_body_that_is_not_an_object_is_422(client: FlaskClient, redis_client: Redis, body: object) -> None:
    response = post_process(client, body)

    assert response.status_code == 422
    assert queued_job_ids(redis_client) == []


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b'{"task": "echo", "payload": {}',
        b"\xff\xfe\xfa",
        b'{"task": "echo", "payload": {"x": NaN}}',
        b"",
    ],
)
def test_bad_json_is_400_and_nothing_is_enqueued(
    client: FlaskClient, redis_client: Redis, raw: bytes
) -> None:
    response = client.post("/process", data=raw, headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert _error(response)["code"] == "bad_json"
    assert queued_job_ids(redis_client) == []


@pytest.mark.parametrize("levels", [31, 40, 100, 10_000, 32_000])
def test_json_nested_too_deep_is_422_too_deep_however_deep(
    client: FlaskClient, redis_client: Redis, levels: int
) -> None:
    # The payload object is level 2: x's arrays take the document past the limit of 32 levels.
    # However deep, the answer is the same: the parser never recurses into it.
    deep = b'{"task": "echo", "payload": {"x": ' + b"[" * levels + b"]" * levels + b"}}"

    response = client.post("/process", data=deep, headers={"Content-Type": "application/json"})

    assert response.status_code == 422
    assert _error(response)["code"] == "too_deep"
    assert queued_job_ids(redis_client) == []


def test_json_nested_to_the_limit_is_accepted(client: FlaskClient) -> None:
    document = {"task": "echo", "payload": {"x": json.loads("[" * 30 + "]" * 30)}}  # 32 levels

    assert post_process(client, document).status_code == 202


@pytest.mark.parametrize("number", [b"1e3", b"1E3", b"1.0e3", b"1e-400", b"1000.0000000000000001", b"1000.5"])
def test_integer_fields_take_integers_only(client: FlaskClient, redis_client: Redis, number: bytes) -> None:
    body = b'{"task": "sleep", "payload": {"ms": ' + number + b"}}"

    response = client.post("/process", data=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 422
    assert "payload.ms" in [detail["loc"] for detail in _error(response)["details"]]  # type: ignore[union-attr]
    assert queued_job_ids(redis_client) == []


@pytest.mark.parametrize("number", [b"1000", b"1000.0", b"1000.000"])
def test_an_integer_with_a_zero_fraction_is_an_integer(
    client: FlaskClient, redis_client: Redis, number: bytes
) -> None:
    # JSON Schema 2020-12, which /openapi.json is written in, counts 1000.0 an integer.
    body = b'{"task": "sleep", "payload": {"ms": ' + number + b"}}"

    response = client.post("/process", data=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 202
    job = Job.fetch(response.get_json()["job_id"], connection=redis_client, serializer=JSONSerializer)
    assert job.kwargs == {"ms": 1000}
    assert type(job.kwargs["ms"]) is int


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_wrong_content_type_is_415_and_nothing_is_enqueued(
    client: FlaskClient, redis_client: Redis, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/process", data=b'{"task": "echo", "payload": {}}', headers=headers)

    assert response.status_code == 415
    assert _error(response)["code"] == "unsupported_media_type"
    assert queued_job_ids(redis_client) == []


def test_content_type_with_charset_is_accepted(client: FlaskClient) -> None:
    response = client.post(
        "/process",
        data=b'{"task": "echo", "payload": {}}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )

    assert response.status_code == 202


def test_oversized_body_is_413_before_the_handler_reads_it(
    app: Flask, client: FlaskClient, redis_client: Redis
) -> None:
    limit = app.config["SREPLAT_SETTINGS"].max_body_bytes
    body = json.dumps({"task": "echo", "payload": {"x": "a" * limit}}).encode()
    reads: list[int] = []

    class CountingStream(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            reads.append(size or -1)
            return super().read(size)

        def readinto(self, buffer: Any) -> int:
            reads.append(len(buffer))
            return super().readinto(buffer)

    response = client.post(
        "/process",
        input_stream=CountingStream(body),
        headers={"Content-Type": "application/json", "Content-Length": str(len(body))},
    )

    assert response.status_code == 413
    assert _error(response)["code"] == "payload_too_large"
    assert reads == []  # refused on Content-Length alone
    assert queued_job_ids(redis_client) == []


def test_body_at_the_limit_is_accepted(app: Flask, client: FlaskClient) -> None:
    limit = app.config["SREPLAT_SETTINGS"].max_body_bytes
    prefix = b'{"task": "echo", "payload": {"x": "'
    suffix = b'"}}'
    body = prefix + b"a" * (limit - len(prefix) - len(suffix)) + suffix

    response = client.post("/process", data=body, headers={"Content-Type": "application/json"})

    assert len(body) == limit
    assert response.status_code == 202


def test_unknown_job_is_404(client: FlaskClient) -> None:
    for job_id in ("0" * 32, "not-a-job-id", "A" * 32):
        response = client.get(f"/jobs/{job_id}")
        assert response.status_code == 404
        assert _error(response)["code"] == "job_not_found"


def test_new_job_reads_back_as_queued(client: FlaskClient) -> None:
    job_id = post_process(client, {"task": "echo", "payload": {"a": [1, 2]}}).get_json()["job_id"]

    response = client.get(f"/jobs/{job_id}")

    assert response.status_code == 200
    view = JobView.model_validate(response.get_json())
    assert (view.job_id, view.task, view.status, view.result, view.error) == (
        job_id,
        "echo",
        "queued",
        None,
        None,
    )
    assert view.enqueued_at is not None
    assert view.enqueued_at.tzinfo is not None
    assert view.ended_at is None


def test_unknown_route_and_wrong_method_are_json_errors(client: FlaskClient) -> None:
    missing = client.get("/nope")
    wrong_method = client.get("/process")

    assert missing.status_code == 404
    assert _error(missing)["code"] == "not_found"
    assert wrong_method.status_code == 405
    assert _error(wrong_method)["code"] == "method_not_allowed"
    assert "POST" in wrong_method.headers["Allow"]


def test_healthz_reports_the_release(client: FlaskClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "release": "test-1"}


def test_readyz_is_200_while_redis_answers(client: FlaskClient) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ready"}
