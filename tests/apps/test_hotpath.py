"""``POST /process`` through the hot path in front of Flask answers, observes and enqueues exactly
as through Flask's own dispatch (the route ``api.routes.process``), request for request."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY
from redis import Redis
from sreplat_apps.api import create_app
from sreplat_apps.api.hotpath import HotPath
from sreplat_apps.settings import Settings
from sreplat_apps.telemetry import logs

from tests.apps.conftest import queued_job_ids

pytestmark = pytest.mark.redis

JSON = {"Content-Type": "application/json"}
# No Content-Length: the body as gunicorn hands over a chunked one (decoded, terminated stream).
CHUNKED = {**JSON, "Transfer-Encoding": "chunked"}
ECHO = b'{"task": "echo", "payload": {"n": 1}}'

# (name, headers, body): every answer POST /process can give without Redis failing.
CASES: list[tuple[str, dict[str, str], bytes]] = [
    ("echo", JSON, ECHO),
    ("sha256", JSON, b'{"task": "sha256", "payload": {"data": "abc", "rounds": 3}}'),
    ("sleep", JSON, b'{"task": "sleep", "payload": {"ms": 1500}}'),
    ("charset", {"Content-Type": "Application/JSON; charset=utf-8"}, ECHO),
    ("utf-8 bom", JSON, b"\xef\xbb\xbf" + ECHO),
    ("utf-16", JSON, ECHO.decode().encode("utf-16")),
    ("text/plain", {"Content-Type": "text/plain"}, ECHO),
    ("no content type", {}, ECHO),
    ("bad json", JSON, b"{"),
    ("empty body", JSON, b""),
    ("not utf-8", JSON, b"\xff\xfe\xfa"),
    ("NaN", JSON, b'{"task": "echo", "payload": {"x": NaN}}'),
    ("not an object", JSON, b"[1, 2]"),
    ("unknown task", JSON, b'{"task": "rm -rf", "payload": {}}'),
    ("schema", JSON, b'{"task": "sleep", "payload": {"ms": "10"}}'),
    ("too deep", JSON, b'{"task": "echo", "payload": {"x": ' + b"[" * 40 + b"]" * 40 + b"}}"),
    ("100 levels", JSON, b'{"task": "echo", "payload": {"x": ' + b"[" * 100 + b"]" * 100 + b"}}"),
    ("10000 levels", JSON, b'{"task": "echo", "payload": {"x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}}"),
    ("deep and broken", JSON, b'{"task": "echo", "payload": {"x": ' + b"[{" * 10_000),
    ("brackets in strings", JSON, b'{"task": "echo", "payload": {"x": "' + b"[{" * 100 + b'"}}'),
    ("ms 1e3", JSON, b'{"task": "sleep", "payload": {"ms": 1e3}}'),
    ("ms 1000.0", JSON, b'{"task": "sleep", "payload": {"ms": 1000.0}}'),
    ("rounds 2E0", JSON, b'{"task": "sha256", "payload": {"data": "a", "rounds": 2E0}}'),
    ("bad idempotency key", {**JSON, "Idempotency-Key": "-starts-with-a-dash"}, ECHO),
    ("oversized", JSON, b'{"task": "echo", "payload": {"x": "' + b"a" * 70_000 + b'"}}'),
    ("chunked", CHUNKED, ECHO),
    ("chunked at the limit", CHUNKED, b'{"task": "echo", "payload": {"x": "' + b"a" * 65_498 + b'"}}'),
    ("chunked over the limit", CHUNKED, b'{"task": "echo", "payload": {"x": "' + b"a" * 70_000 + b'"}}'),
    ("chunked, one byte over", CHUNKED, b'{"task": "echo", "payload": {"x": "' + b"a" * 65_499 + b'"}}'),
]


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]
    enqueued: int
    span: tuple[str, str, dict[str, Any], str]
    log: dict[str, Any]
    counted: float


@dataclass
class Side:
    app: Flask
    client: FlaskClient
    spans: InMemorySpanExporter
    flask_dispatches: list[str]


def _side(settings: Settings, *, hot: bool) -> Side:
    spans = InMemorySpanExporter()
    app = create_app({"SETTINGS": settings, "SPAN_EXPORTERS": [spans], "TESTING": True})
    assert isinstance(app.wsgi_app, HotPath)
    if not hot:
        app.wsgi_app = app.wsgi_app.flask_wsgi_app  # type: ignore[method-assign]
    dispatches: list[str] = []
    # First of the hooks: the oversized-body check would stop the ones after it.
    app.before_request_funcs.setdefault(None, []).insert(0, lambda: dispatches.append("flask") and None)
    return Side(app, app.test_client(), spans, dispatches)


@pytest.fixture
def sides(settings: Settings) -> Iterator[tuple[Side, Side]]:
    hot, flask_only = _side(settings, hot=True), _side(settings, hot=False)
    yield hot, flask_only
    for side in (hot, flask_only):
        side.app.extensions["sreplat.jobs"].connection.close()


def _counted(status: int) -> float:
    labels = {"route": "/process", "method": "POST", "status": str(status)}
    return REGISTRY.get_sample_value("sreplat_http_requests_total", labels) or 0.0


def _post(
    side: Side,
    headers: dict[str, str],
    body: bytes,
    redis_client: Redis,
    capsys: pytest.CaptureFixture[str],
) -> Answer:
    logs.setup("api", "INFO")  # JSON lines to this test's captured stdout
    side.spans.clear()
    before = len(queued_job_ids(redis_client))
    counted_before = {status: _counted(status) for status in (202, 400, 413, 415, 422)}
    capsys.readouterr()
    if "Transfer-Encoding" in headers:
        response = side.client.post(
            "/process",
            input_stream=io.BytesIO(body),
            headers=headers,
            environ_overrides={"wsgi.input_terminated": True},
        )
    else:
        # Content-Length as gunicorn passes it, also for an empty body (werkzeug's builder omits it).
        length = {"CONTENT_LENGTH": str(len(body))}
        response = side.client.post("/process", data=body, headers=headers, environ_overrides=length)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    (log,) = [line for line in lines if line["msg"] == "request"]
    (span,) = side.spans.get_finished_spans()
    payload = response.get_json()
    if response.status_code == 202:
        assert response.headers["Location"] == f"/jobs/{payload['job_id']}"
        payload["job_id"] = "<id>"
    else:
        assert payload["trace_id"] == format(span.context.trace_id, "032x")
        payload["trace_id"] = "<trace>"
    return Answer(
        status=response.status_code,
        body=payload,
        headers={
            name: value
            for name, value in response.headers.items()
            if name not in ("Location", "Content-Length")
        },
        enqueued=len(queued_job_ids(redis_client)) - before,
        span=(span.name, str(span.kind), dict(span.attributes or {}), str(span.status.status_code)),
        log={key: log[key] for key in ("level", "route", "path", "status", "http_method", "logger")},
        counted=_counted(response.status_code) - counted_before.get(response.status_code, 0.0),
    )


@pytest.mark.parametrize(("headers", "body"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_hot_path_answers_like_flask(
    capsys: pytest.CaptureFixture[str],
    sides: tuple[Side, Side],
    redis_client: Redis,
    headers: dict[str, str],
    body: bytes,
) -> None:
    hot, flask_only = sides

    through_flask = _post(flask_only, headers, body, redis_client, capsys)
    through_hot_path = _post(hot, headers, body, redis_client, capsys)

    assert through_hot_path == through_flask
    assert flask_only.flask_dispatches == ["flask"]
    assert hot.flask_dispatches == []  # served in front of Flask, not by the route
    assert through_hot_path.counted == 1
    assert through_hot_path.enqueued == (1 if through_hot_path.status == 202 else 0)


def test_idempotent_replay_and_conflict_answer_alike(
    capsys: pytest.CaptureFixture[str], sides: tuple[Side, Side], redis_client: Redis
) -> None:
    answers = []
    for side, key in zip(sides, ("key-hot", "key-flask"), strict=True):
        headers = {**JSON, "Idempotency-Key": key}
        first = _post(side, headers, ECHO, redis_client, capsys)
        replay = _post(side, headers, ECHO, redis_client, capsys)
        conflict = _post(side, headers, b'{"task": "echo", "payload": {"n": 2}}', redis_client, capsys)
        answers.append((first, replay, conflict))

    assert answers[0] == answers[1]
    first, replay, conflict = answers[0]
    assert (first.status, first.enqueued) == (202, 1)
    assert (replay.status, replay.enqueued, replay.headers["Idempotent-Replayed"]) == (202, 0, "true")
    assert (conflict.status, conflict.body["error"]["code"]) == (422, "idempotency_key_reused")


def test_the_caller_trace_is_continued_on_the_hot_path(sides: tuple[Side, Side], redis_client: Redis) -> None:
    hot, _flask_only = sides
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"

    response = hot.client.post(
        "/process", data=ECHO, headers={**JSON, "traceparent": f"00-{caller_trace}-00f067aa0ba902b7-01"}
    )

    (span,) = hot.spans.get_finished_spans()
    assert response.status_code == 202
    assert format(span.context.trace_id, "032x") == caller_trace
    assert span.parent is not None and format(span.parent.span_id, "016x") == "00f067aa0ba902b7"
    job = redis_client.hget(f"rq:job:{response.get_json()['job_id']}", "meta")
    assert job is not None
    assert json.loads(job)["trace"]["traceparent"].split("-")[1] == caller_trace


@pytest.mark.parametrize(
    "environ",
    [
        {"REQUEST_METHOD": "GET"},  # another method: Flask's 405
        {"PATH_INFO": "/process/"},  # another path: Flask's routing
    ],
    ids=["method", "path"],
)
def test_anything_else_goes_to_flask(sides: tuple[Side, Side], environ: dict[str, str]) -> None:
    hot, _flask_only = sides
    base = {"REQUEST_METHOD": "POST", "PATH_INFO": "/process", "CONTENT_LENGTH": str(len(ECHO))}

    hot.client.open("/process", method="POST", data=ECHO, headers=JSON, environ_overrides={**base, **environ})

    assert hot.flask_dispatches == ["flask"]
