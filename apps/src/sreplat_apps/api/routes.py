"""The HTTP contract of DESIGN §5."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app
from pydantic import BaseModel, ValidationError

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
    json_depth,
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
_JSON = json.JSONDecoder(parse_constant=_reject_constant)


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
    submission = submit(
        _store(),
        request.mimetype,
        lambda: request.get_data(cache=False),
        request.headers.get("Idempotency-Key"),
    )
    return Response(submission.body, status=202, headers=submission.headers, mimetype="application/json")


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
        document = _JSON.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "bad_json", f"the body is not valid JSON: {str(exc)[:200]}") from None
    if json_depth(document) > MAX_PAYLOAD_DEPTH:
        raise ApiError(422, "too_deep", f"JSON nested deeper than {MAX_PAYLOAD_DEPTH} levels")
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
