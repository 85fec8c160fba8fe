"""Issue 12: a Redis outage must reach clients as the API's JSON 503 with Retry-After, not as
load-balancer 502s.

Redis is a dependency every api pod shares. If the load balancer's health check (BackendConfig)
or the readiness probe (which decides whether a pod stays in the Service and in the NEG of
container-native load balancing) followed Redis, every pod would leave rotation at once and the
load balancer would answer 502 itself. The chart's probe paths are sent to the real API app with
Redis unreachable: they must keep the pods in rotation, while the app itself answers 503.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.helm.charts import one, pod_spec, render_objects
from tests.support.redis_server import free_port

pytestmark = pytest.mark.helm


@pytest.fixture
def api_without_redis(tmp_path: Path) -> Iterator[FlaskClient]:
    import logging

    from sreplat_apps.api import create_app
    from sreplat_apps.settings import Settings

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    nothing_listens = f"redis://127.0.0.1:{free_port()}/0"
    settings = replace(
        Settings.from_env({}),
        redis_url=nothing_listens,
        runtime_dir=tmp_path / "rt",
        redis_timeout_seconds=0.3,
    )
    yield create_app({"SETTINGS": settings, "TESTING": True}).test_client()
    root.handlers[:], root.level = handlers, level  # create_app installs a JSON log handler


def chart_paths() -> dict[str, str]:
    objs = render_objects("api", {})
    container = pod_spec(one(objs, "Deployment"))["containers"][0]
    return {
        "load balancer health check": one(objs, "BackendConfig")["spec"]["healthCheck"]["requestPath"],
        "readiness probe": container["readinessProbe"]["httpGet"]["path"],
        "liveness probe": container["livenessProbe"]["httpGet"]["path"],
    }


def test_a_redis_outage_keeps_pods_in_rotation_and_clients_get_the_apis_503(
    api_without_redis: FlaskClient,
) -> None:
    for what, path in chart_paths().items():
        response = api_without_redis.get(path)
        assert response.status_code == 200, f"{what} ({path}) fails while Redis is down: pods leave rotation"
    # What a client then gets, from the API itself through the load balancer.
    response = api_without_redis.post("/process", json={"task": "echo", "payload": {}})
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    body = response.get_json()
    assert body["error"]["code"] == "redis_unavailable" and "trace_id" in body
    # /readyz still tells people (and `sreplat status`) that Redis is away.
    assert api_without_redis.get("/readyz").status_code == 503
