"""``/openapi.json`` is derived from the request models, and the API honours it under fuzzing."""

from __future__ import annotations

import json

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from pydantic.json_schema import models_json_schema
from redis import Redis
from schemathesis.generation import GenerationMode
from sreplat_apps.contract import ProcessRequest, Sha256Payload, SleepPayload

pytestmark = pytest.mark.redis


def test_openapi_document_is_generated_from_the_validating_models(app: Flask) -> None:
    document = json.loads(app.test_client().get("/openapi.json").data)
    _, expected = models_json_schema(
        [(ProcessRequest, "validation")], ref_template="#/components/schemas/{model}"
    )

    assert document["openapi"] == "3.1.0"
    schemas = document["components"]["schemas"]
    for name, schema in expected["$defs"].items():
        assert schemas[name] == schema
    assert (
        schemas["SleepPayload"]["properties"]["ms"]["maximum"]
        == SleepPayload.model_fields["ms"].metadata[1].le
    )
    assert schemas["Sha256Payload"]["additionalProperties"] is False
    assert set(schemas["Sha256Payload"]["properties"]) == set(Sha256Payload.model_fields)
    process = document["paths"]["/process"]["post"]
    assert set(process["responses"]) == {"202", "400", "413", "415", "422", "503"}
    assert process["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ProcessRequest"
    }


def _operations(app: Flask) -> list[schemathesis.schemas.APIOperation]:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize(
    "mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda mode: mode.value
)
def test_api_honours_its_own_openapi_document(app: Flask, redis_client: Redis, mode: GenerationMode) -> None:
    # Bounded and deterministic for CI: a fixed number of derandomized examples per operation.
    # Every default check runs: no 5xx, documented status codes, bodies and headers match the
    # document, invalid input is refused (4xx), valid input is accepted (2xx).
    fuzzed = []
    for operation in _operations(app):
        if mode is GenerationMode.NEGATIVE and not (
            operation.body or operation.path_parameters or operation.headers
        ):
            continue  # nothing in the request to get wrong

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=30,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            # Examples are independent requests: an Idempotency-Key drawn again with another
            # body is a 422 by design (tested in test_api_contract), not a schema violation.
            redis_client.flushdb()
            case.call_and_validate()

        check()
        fuzzed.append(operation.label)
    assert "POST /process" in fuzzed
