"""Google Cloud Managed Service for Prometheus double: the Prometheus HTTP API's instant query
(``GET /v1/projects/<p>/location/global/prometheus/api/v1/query?query=...``; the reference,
monitoring/api/ref_v3/rest/v1/projects.location.prometheus.api.v1/query, documents GET with an
empty body, so nothing else is routed).

It does not evaluate PromQL: ``answers`` maps a metric name to the value a query that names it
returns (a one-sample vector), ``None`` to an empty result (no series yet), or a list of
``(labels, value)`` to a vector of labelled samples (recording rules' series, e.g. one per SLO;
the value may be NaN, which the API writes as "NaN"). A query naming no known metric is a
problem, so a changed query cannot silently get a default.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

from tests.doubles.base import DoubleServer, Request, Response


class MonitoringDouble(DoubleServer):
    name = "monitoring-double"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.answers: dict[str, float | list[tuple[dict[str, str], float]] | None] = {}
        self.queries: list[str] = []
        path = r"/v1/projects/(?P<project>[^/]+)/location/global/prometheus/api/v1/query"
        self.route("GET", path, self._query)

    def _query(self, req: Request) -> Response:
        query = req.param("query")
        problem = "the body must be empty" if req.body else None if query else "no query"
        if problem:
            return Response(400, {"status": "error", "errorType": "bad_data", "error": problem})
        self.queries.append(query)
        names = [n for n in self.answers if re.search(rf"\b{re.escape(n)}\b", query)]
        if not names:
            self.problems.append(f"query names no metric the double knows: {query}")
            return Response(400, {"status": "error", "errorType": "bad_data", "error": "unknown metric"})
        value = self.answers[names[0]]
        samples = value if isinstance(value, list) else [] if value is None else [({}, value)]
        result = [{"metric": labels, "value": [time.time(), _text(v)]} for labels, v in samples]
        return Response(body={"status": "success", "data": {"resultType": "vector", "result": result}})


def _text(value: float) -> str:
    """Sample values as the Prometheus API writes them: strings, NaN and Inf spelled out."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))
