"""Instant PromQL queries against Google Cloud Managed Service for Prometheus, where the GKE
collectors put what the apps' ``/metrics`` expose (the charts' PodMonitorings ask for it).

``query(access, "max(sreplat_queue_depth)")`` returns the samples of the resulting vector;
an empty tuple means no series matched (nothing scraped yet). The endpoint is the Prometheus
HTTP API that Managed Service for Prometheus serves per project: ``GET
/v1/projects/<p>/location/global/prometheus/api/v1/query?query=...`` with an empty body
(monitoring/api/ref_v3/rest/v1/projects.location.prometheus.api.v1/query; the `status` checks
``queue`` and ``slo`` ask it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sreplat.errors import OperationFailed
from sreplat.tools.api_calls import Deadline
from sreplat.tools.gcp.access import GcpAccess, deadline_session, gcp_call

DEFAULT_ENDPOINT = "https://monitoring.googleapis.com"


@dataclass(frozen=True)
class Sample:
    labels: Mapping[str, str]
    value: float


def query(access: GcpAccess, promql: str, *, timeout: float = 10.0) -> tuple[Sample, ...]:
    """Evaluate ``promql`` now; OperationFailed when the API refuses it."""
    deadline = Deadline(timeout)
    base = access.endpoints.monitoring or DEFAULT_ENDPOINT
    url = f"{base}/v1/projects/{access.project}/location/global/prometheus/api/v1/query"
    session = deadline_session(access.resolved_credentials(), deadline)

    def attempt(_seconds_left: float) -> Any:
        from google.api_core import exceptions

        response = session.get(url, params={"query": promql})
        if response.status_code >= 400:
            # A coded error (403, 404, 429...) translates like those of the client libraries.
            raise exceptions.from_http_response(response)  # type: ignore[no-untyped-call]
        return response.json()

    try:
        document = gcp_call(f"querying Managed Prometheus ({promql})", deadline, attempt)
    finally:
        session.close()
    if document.get("status") != "success":
        raise OperationFailed(f"Managed Prometheus refused {promql!r}: {document.get('error', document)}")
    data = document.get("data") or {}
    if data.get("resultType") != "vector":
        raise OperationFailed(f"{promql!r} did not give a vector but {data.get('resultType')!r}")
    return tuple(
        Sample(labels=dict(item.get("metric") or {}), value=float(item["value"][1]))
        for item in data.get("result") or ()
    )
