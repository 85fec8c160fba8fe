"""``/openapi.json``: OpenAPI 3.1 built from the pydantic models that validate and answer requests."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from sreplat_apps.contract import (
    IDEMPOTENCY_KEY_PATTERN,
    JOB_ID_PATTERN,
    Accepted,
    ErrorResponse,
    Health,
    JobView,
    ProcessRequest,
    Ready,
)

_REF = "#/components/schemas/{model}"


def _json(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}}


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": _json(ErrorResponse)}
    if headers:
        response["headers"] = headers
    return response


_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}}
}
_UNAVAILABLE = _error("Redis is unreachable; retry after `Retry-After` seconds.", _RETRY_AFTER)


def build(release: str, max_body_bytes: int) -> dict[str, Any]:
    inputs: list[type[BaseModel]] = [ProcessRequest]
    outputs: list[type[BaseModel]] = [Accepted, JobView, ErrorResponse, Health, Ready]
    _, top = models_json_schema(
        [(model, "validation") for model in inputs] + [(model, "serialization") for model in outputs],
        ref_template=_REF,
    )
    paths: dict[str, Any] = {
        "/process": {
            "post": {
                "operationId": "process",
                "summary": "Enqueue a task; answers at once with the job id.",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "Same key and body: the same job, nothing new is enqueued.",
                        "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN, "maxLength": 255},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "description": f"At most {max_body_bytes} bytes.",
                    "content": _json(ProcessRequest),
                },
                "responses": {
                    "202": {
                        "description": "Enqueued (or, for a repeated Idempotency-Key, enqueued before).",
                        "headers": {
                            "Location": {"description": "`/jobs/<job_id>`", "schema": {"type": "string"}},
                            "Idempotent-Replayed": {
                                "description": "`true` when an earlier request made this job.",
                                "schema": {"type": "string", "enum": ["true"]},
                            },
                        },
                        "content": _json(Accepted),
                    },
                    "400": _error("The body is not valid JSON."),
                    "413": _error("The body is larger than the limit."),
                    "415": _error("The body is not `application/json`."),
                    "422": _error(
                        "The body or a header breaks the schema (unknown task, bad payload, bad "
                        "Idempotency-Key, or the key was used for a different body)."
                    ),
                    "503": _UNAVAILABLE,
                },
            }
        },
        "/jobs/{job_id}": {
            "get": {
                "operationId": "getJob",
                "summary": "A job's status and, once finished, its result.",
                "parameters": [
                    {
                        "name": "job_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": JOB_ID_PATTERN},
                    }
                ],
                "responses": {
                    "200": {"description": "The job.", "content": _json(JobView)},
                    "404": _error("No such job (never existed, or expired)."),
                    "503": _UNAVAILABLE,
                },
            }
        },
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "summary": "Liveness: 200 while the process serves.",
                "responses": {"200": {"description": "Alive.", "content": _json(Health)}},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "summary": "Readiness: 200 when Redis answers.",
                "responses": {"200": {"description": "Ready.", "content": _json(Ready)}, "503": _UNAVAILABLE},
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics (text exposition format).",
                "responses": {
                    "200": {
                        "description": "Metrics.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document.",
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "sreplat API", "version": release},
        "paths": paths,
        "components": {"schemas": top["$defs"]},
    }
