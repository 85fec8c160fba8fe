"""The HTTP contract (DESIGN §5) as pydantic models, and the task catalogue.

The same models validate requests, build responses and generate ``/openapi.json``, so the
document and the behaviour cannot drift apart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, JsonValue, RootModel

JOB_ID_PATTERN = r"^[0-9a-f]{32}$"
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,254}$"
MAX_PAYLOAD_DEPTH = 32


class IntegralFloat(float):
    """A JSON number written as an integer with a zero fraction, ``5.0``: JSON Schema 2020-12
    (OpenAPI 3.1's) counts it an integer, so ``/openapi.json`` promises to take it as one."""


_INTEGRAL_LITERAL = re.compile(r"-?[0-9]+\.0+")


def parse_json_float(literal: str) -> float:
    """``parse_float`` of the request decoder: marks the integral literals, so that integer fields
    take ``5.0`` but not what only rounds to an integer (``1.0000000000000001``, ``1e-400``) nor
    an exponent form (``1e3``)."""
    value = float(literal)
    return IntegralFloat(value) if _INTEGRAL_LITERAL.fullmatch(literal) else value


def _integral_literal_to_int(value: object) -> object:
    return int(value) if isinstance(value, IntegralFloat) else value


JsonInt = Annotated[int, BeforeValidator(_integral_literal_to_int)]


class _Input(BaseModel):
    # Strict: JSON types are taken as they are ("5" is not an integer, nor is 5.5 or 1e3), unknown
    # keys are refused.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Output(BaseModel):
    model_config = ConfigDict(frozen=True)


class Sha256Payload(_Input):
    data: str = Field(description="Text to hash (UTF-8).")
    rounds: JsonInt = Field(default=1, ge=1, le=100_000, description="sha256 applied this many times.")


class SleepPayload(_Input):
    ms: JsonInt = Field(ge=0, le=60_000, description="Milliseconds to sleep.")


class EchoRequest(_Input):
    task: Literal["echo"]
    payload: dict[str, JsonValue] = Field(description="Any JSON object; the job returns it unchanged.")


class Sha256Request(_Input):
    task: Literal["sha256"]
    payload: Sha256Payload


class SleepRequest(_Input):
    task: Literal["sleep"]
    payload: SleepPayload


TaskRequest = EchoRequest | Sha256Request | SleepRequest


class ProcessRequest(RootModel[Annotated[TaskRequest, Field(discriminator="task")]]):
    """Body of ``POST /process``: a task name and its payload."""


class Accepted(_Output):
    job_id: str = Field(pattern=JOB_ID_PATTERN)
    status: Literal["queued"] = "queued"


JobStatus = Literal["queued", "started", "finished", "failed"]


class JobView(_Output):
    job_id: str = Field(pattern=JOB_ID_PATTERN)
    task: str
    status: JobStatus
    result: JsonValue = Field(default=None, description="The task's return value once finished.")
    error: str | None = Field(default=None, description="Why the job failed (last attempt).")
    enqueued_at: datetime | None = None
    ended_at: datetime | None = None


class ErrorDetail(_Output):
    loc: str = Field(description="Where in the request, e.g. `payload.rounds`.")
    msg: str


class ErrorBody(_Output):
    code: str = Field(description="Stable, machine-readable reason, e.g. `unknown_task`.")
    message: str
    details: list[ErrorDetail] | None = None


class ErrorResponse(_Output):
    error: ErrorBody
    trace_id: str | None = Field(description="Trace of the failed request (32 hex), when traced.")


class Health(_Output):
    status: Literal["ok"] = "ok"
    release: str


class Ready(_Output):
    status: Literal["ready"] = "ready"


# --- task catalogue -------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskSpec:
    """How a validated request becomes an RQ job: function, explicit arguments, time limit."""

    name: str
    function: str
    arguments: Callable[[Any], dict[str, Any]]
    timeout_seconds: Callable[[Any], int]


TASKS: dict[str, TaskSpec] = {
    "echo": TaskSpec(
        name="echo",
        function="sreplat_apps.tasks.echo",
        arguments=lambda request: {"payload": request.payload},
        timeout_seconds=lambda _request: 10,
    ),
    "sha256": TaskSpec(
        name="sha256",
        function="sreplat_apps.tasks.sha256",
        arguments=lambda request: {"data": request.payload.data, "rounds": request.payload.rounds},
        timeout_seconds=lambda _request: 60,
    ),
    "sleep": TaskSpec(
        name="sleep",
        function="sreplat_apps.tasks.sleep",
        arguments=lambda request: {"ms": request.payload.ms},
        # The sleep itself plus room for a busy machine; the job fails only if truly stuck.
        timeout_seconds=lambda request: math.ceil(request.payload.ms / 1000) + 10,
    ),
}


# A JSON string (escapes included): brackets inside one do not nest anything.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_NESTING = {"[": 1, "{": 1, "]": -1, "}": -1}


def nested_deeper_than(text: str, limit: int = MAX_PAYLOAD_DEPTH) -> bool:
    """Whether a JSON text nests arrays and objects more than ``limit`` levels deep (the top-level
    object is level 1). Found from the text alone, before it is parsed, so however deep the
    document, nothing recurses into it. Each step runs in C: a regular expression, then
    ``accumulate``/``max`` over the brackets."""
    if text.count("[") + text.count("{") <= limit:
        return False  # the usual case: too few brackets to be too deep, whatever the strings hold
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_NESTING.__getitem__, brackets)), default=0) > limit
