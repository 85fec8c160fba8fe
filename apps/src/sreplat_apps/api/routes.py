"""The HTTP contract of DESIGN §5."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import ClientDisconnected
from werkzeug.wsgi import get_content_length

from sreplat_apps.api.errors import ApiError
from sreplat_apps.api.observability import current_request
from sreplat_apps.contract import (
    IDEMPOTENCY_KEY_PATTERN,
    JOB_ID_PATTERN,
    MAX_PAYLOAD_DEPTH,
    Accepted,
    ErrorDetail,
    Health,
    ProcessRequest,
    Ready,
    nested_deeper_than,
    parse_json_float,
)
from sreplat_apps.jobs import IdempotencyConflict, JobStore
from sreplat_apps.settings import Settings
from sreplat_apps.telemetry import metrics, tracing

bp = Blueprint("api", __name__)

_JOB_ID_RE = re.compile(JOB_ID_PATTERN)
_IDEMPOTENCY_KEY_RE = re.compile(IDEMPOTENCY_KEY_PATTERN)


def _store() -> JobStore:
    store: JobStore = current_app.extensions["sreplat.jobs"]
    return store


def _settings() -> Settings:
    settings: Settings = current_app.config["SREPLAT_SETTINGS"]
    return settings


def _json(model: BaseModel, status: int = 200) -> Response:
    return Response(model.model_dump_json(), status=status, mimetype="application/json")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# json.loads builds a decoder per call when given parse_constant; this one is built once.
_JSON = json.JSONDecoder(parse_constant=_reject_constant, parse_float=parse_json_float)


@bp.before_app_request
def refuse_oversized_body() -> None:
    # Before any handler touches the stream; chunked bodies are capped by MAX_CONTENT_LENGTH.
    limit = _settings().max_body_bytes
    length = current_request().content_length
    if length is not None and length > limit:
        raise payload_too_large(limit)


def payload_too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"the body is larger than {limit} bytes")


@bp.post("/process")
def process() -> Response:
    request = current_request()
    limit = _settings().max_body_bytes
    submission = submit(
        _store(),
        request.mimetype,
        lambda: read_body(request.environ, limit),
        request.headers.get("Idempotency-Key"),
    )
    return Response(submission.body, status=202, headers=submission.headers, mimetype="application/json")


def content_length(environ: Mapping[str, Any]) -> int | None:
    """As werkzeug's ``Request.content_length`` reads it: None for a chunked body."""
    return get_content_length(environ)  # type: ignore[arg-type]  # typed for a dict environ


def read_body(environ: Mapping[str, Any], limit: int) -> bytes:
    """The request body (the Flask route and the hot path read it alike, not through werkzeug,
    whose limited stream cannot tell a body of exactly ``limit`` bytes from a longer one).

    With a Content-Length, that many bytes (the caller refused one over ``limit`` already).
    Without one, a chunked body, which the server decodes and ends (``wsgi.input_terminated``):
    at most ``limit`` bytes, a 413 past them. Neither: no body, as werkzeug's safe fallback.
    """
    stream = environ["wsgi.input"]
    length = content_length(environ)
    if length is not None:
        body: bytes = stream.read(length) if length else b""
        if len(body) < length:
            raise ClientDisconnected()  # as werkzeug's limited stream says it
        return body
    if not environ.get("wsgi.input_terminated"):
        return b""
    body = stream.read(limit + 1)
    if len(body) > limit:
        raise payload_too_large(limit)
    return body


@dataclass(frozen=True)
class Submission:
    """The 202 answer to ``POST /process``: JSON body and extra headers."""

    body: bytes
    headers: list[tuple[str, str]]


def submit(
    store: JobStore, mimetype: str, read_body: Callable[[], bytes], idempotency_key: str | None
) -> Submission:
    """``POST /process`` without Flask: validate, enqueue, answer; any refusal raises ``ApiError``.

    The Flask route above and the hot path in front of Flask (``api.hotpath``) both call this.
    """
    if mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as Content-Type: application/json")
    body = read_body()  # only now: a 415 leaves the body unread
    try:
        text = body.decode(json.detect_encoding(body), "surrogatepass")
    except ValueError as exc:
        raise _bad_json(exc) from None
    # Before parsing: the parser recurses once per level, so it never sees a deeper document.
    if nested_deeper_than(text, MAX_PAYLOAD_DEPTH):
        raise ApiError(422, "too_deep", f"JSON nested deeper than {MAX_PAYLOAD_DEPTH} levels")
    try:
        document = _JSON.decode(text)
    except ValueError as exc:
        raise _bad_json(exc) from None
    if idempotency_key is not None and not _IDEMPOTENCY_KEY_RE.match(idempotency_key):
        raise ApiError(
            422,
            "invalid_idempotency_key",
            "Idempotency-Key must be 1-255 characters: letters, digits and . _ : - (starting alphanumeric)",
        )
    try:
        task_request = ProcessRequest.model_validate(document, strict=True).root
    except ValidationError as exc:
        raise _schema_error(exc) from None
    try:
        enqueued = store.enqueue(
            task_request, idempotency_key=idempotency_key, trace_context=tracing.inject_current()
        )
    except IdempotencyConflict:
        raise ApiError(
            422, "idempotency_key_reused", "this Idempotency-Key was already used with a different body"
        ) from None
    if enqueued.created:
        metrics.JOBS_ENQUEUED.labels(task_request.task).inc()
    headers = [("Location", f"/jobs/{enqueued.job_id}")]
    if not enqueued.created:
        headers.append(("Idempotent-Replayed", "true"))
    return Submission(Accepted(job_id=enqueued.job_id).model_dump_json().encode(), headers)


def _bad_json(exc: ValueError) -> ApiError:
    return ApiError(400, "bad_json", f"the body is not valid JSON: {str(exc)[:200]}")


def _schema_error(exc: ValidationError) -> ApiError:
    errors = exc.errors(include_url=False, include_input=False)
    if any(error["type"] == "union_tag_invalid" for error in errors):
        return ApiError(422, "unknown_task", "task must be one of: echo, sha256, sleep")
    details = []
    for error in errors[:20]:
        loc = list(error["loc"])
        if loc and loc[0] in ("echo", "sha256", "sleep"):
            loc = loc[1:]  # the union member pydantic tried, not a place in the body
        details.append(ErrorDetail(loc=".".join(str(part) for part in loc) or "body", msg=error["msg"]))
    return ApiError(422, "invalid_request", "the body does not match the schema", details=details)


@bp.get("/jobs/<job_id>")
def get_job(job_id: str) -> Response:
    view = _store().get(job_id) if _JOB_ID_RE.match(job_id) else None
    if view is None:
        raise ApiError(404, "job_not_found", "no such job (never existed, or expired)")
    return _json(view)


@bp.get("/healthz")
def healthz() -> Response:
    return _json(Health(release=_settings().release))


@bp.get("/readyz")
def readyz() -> Response:
    _store().ping()  # a Redis error becomes 503 + Retry-After (errors.py)
    return _json(Ready())


@bp.get("/metrics")
def prometheus_metrics() -> Response:
    store = _store()
    depth = metrics.QueueDepthCollector(store.queue.name, store.depth)
    return Response(metrics.exposition([depth]), mimetype=None, content_type=metrics.CONTENT_TYPE)


@bp.get("/openapi.json")
def openapi() -> Response:
    document: bytes = current_app.extensions["sreplat.openapi"]
    return Response(document, mimetype="application/json")
