"""The HTTP contract (DESIGN §5) as pydantic models, and the task catalogue.

The same models validate requests, build responses and generate ``/openapi.json``, so the
document and the behaviour cannot drift apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, JsonValue, RootModel

JOB_ID_PATTERN = r"^[0-9a-f]{32}$"
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,254}$"
MAX_PAYLOAD_DEPTH = 32


def _integral_float_to_int(value: object) -> object:
    # JSON has one number type: 5.0 is the integer 5 (JSON Schema agrees), 5.5 is not.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(_integral_float_to_int)]


class _Input(BaseModel):
    # Strict: JSON types are taken as they are ("5" is not an integer), unknown keys are refused.
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


def json_depth(value: object, limit: int = MAX_PAYLOAD_DEPTH) -> int:
    """Nesting depth of a parsed JSON value, counting stops once past ``limit``."""
    depth = 0
    level: list[object] = [value]
    while level and depth <= limit:
        children: list[object] = []
        for item in level:
            if isinstance(item, dict):
                children.extend(item.values())
            elif isinstance(item, list):
                children.extend(item)
        if not children:
            break
        depth += 1
        level = children
    return depth
