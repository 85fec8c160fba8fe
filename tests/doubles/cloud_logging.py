"""Cloud Logging double: ``entries.list`` over REST (``POST /v2/entries:list``), as the real
google-cloud-logging client sends it on its HTTP transport.

Modelled on the documented method (cloud.google.com/logging/docs/reference/v2/rest/v2/entries/list):
``resourceNames`` is required; ``orderBy`` is ``timestamp asc`` (the default) or
``timestamp desc``; ``pageSize`` defaults to 50 and a value above 1000 is refused; more results
come with a ``nextPageToken``. The filter is evaluated, not pattern-matched: the subset of the
Logging query language sreplat writes — clauses on separate lines or joined by a top-level
``AND``, all of which must hold, each ``<field> <op> "<value>"`` (``=``, ``!=``, ``>``, ``>=``,
``<``, ``<=``) or ``<field>=("a" OR "b")``; fields are dotted paths into the LogEntry (``resource.labels.x``,
``trace``, ``timestamp``, ``jsonPayload.x``); ``timestamp`` compares as a time. Anything else is
recorded as a problem (the test fails) and answered 400, so an unmodelled query never passes.

``entries`` holds LogEntry resources as the GKE logging agent writes them (``add_line`` turns an
app's JSON line into one the way the agent does: special fields lifted out of ``jsonPayload``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from tests.doubles.base import DoubleServer, Request, Response

_CLAUSE = re.compile(
    r'^(?P<field>[A-Za-z_][\w.]*)\s*(?P<op>=|!=|>=|<=|>|<)\s*(?P<value>"(?:[^"\\]|\\.)*"|\(.*\))$'
)
_ALTERNATIVE = re.compile(r'"((?:[^"\\]|\\.)*)"')
TRACE_FIELD = "logging.googleapis.com/trace"
SPAN_FIELD = "logging.googleapis.com/spanId"
SAMPLED_FIELD = "logging.googleapis.com/trace_sampled"


def _time(value: str) -> datetime:
    value = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _conjuncts(text: str) -> list[str]:
    """The clauses of a filter: separate lines and top-level ``AND`` both conjoin (the client
    library appends ``AND timestamp>=...`` — 24 hours back — to a filter without a timestamp)."""
    parts: list[str] = []
    for line in text.splitlines():
        current, depth, quoted, i = "", 0, False, 0
        while i < len(line):
            ch = line[i]
            if ch == '"' and (i == 0 or line[i - 1] != "\\"):
                quoted = not quoted
            elif not quoted and ch in "()":
                depth += 1 if ch == "(" else -1
            if not quoted and depth == 0 and line.startswith(" AND ", i):
                parts.append(current)
                current, i = "", i + 5
                continue
            current += ch
            i += 1
        parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def _lookup(entry: dict[str, Any], path: str) -> Any:
    node: Any = entry
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


class CloudLoggingDouble(DoubleServer):
    name = "logging-double"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entries: list[dict[str, Any]] = []
        self.filters: list[str] = []
        self.route("POST", r"/v2/entries:list", self._list)

    # --- what the cluster's logging agent would write -----------------------------------------
    def add_line(
        self, line: dict[str, Any], *, project: str, resource_labels: dict[str, str]
    ) -> dict[str, Any]:
        """Ingest one JSON log line of a container as a ``k8s_container`` LogEntry."""
        payload = dict(line)
        entry: dict[str, Any] = {
            "logName": f"projects/{project}/logs/stdout",
            "resource": {"type": "k8s_container", "labels": {"project_id": project, **resource_labels}},
            "timestamp": payload.get("ts"),
            "receiveTimestamp": payload.get("ts"),
            "insertId": f"{len(self.entries):08d}",
            "severity": payload.pop("severity", "DEFAULT"),
        }
        if TRACE_FIELD in payload:  # the agent lifts the special fields into the entry
            entry["trace"] = payload.pop(TRACE_FIELD)
            entry["spanId"] = payload.pop(SPAN_FIELD, "")
            entry["traceSampled"] = payload.pop(SAMPLED_FIELD, False)
        entry["jsonPayload"] = payload
        self.entries.append(entry)
        return entry

    # --- the API -------------------------------------------------------------------------------
    def _list(self, req: Request) -> Response:
        body = req.json() or {}
        names = body.get("resourceNames") or []
        if not names:
            return self.error(
                400, "resourceNames: at least one resource name is required", "INVALID_ARGUMENT"
            )
        projects = {n.split("/", 1)[1] for n in names if n.startswith("projects/")}
        order = body.get("orderBy", "timestamp asc")
        if order not in ("timestamp asc", "timestamp desc"):
            return self.error(400, f"orderBy: {order!r} is not supported", "INVALID_ARGUMENT")
        size = int(body.get("pageSize") or 50)
        if not 0 < size <= 1000:
            return self.error(400, "pageSize: must be between 1 and 1000", "INVALID_ARGUMENT")
        text = body.get("filter", "")
        self.filters.append(text)
        try:
            clauses = [self._clause(part) for part in _conjuncts(text)]
        except ValueError as exc:
            self.problems.append(f"filter the double cannot evaluate: {exc}")
            return self.error(400, f"filter: {exc}", "INVALID_ARGUMENT")
        found = [
            e
            for e in self.entries
            if e["resource"]["labels"].get("project_id") in projects and all(c(e) for c in clauses)
        ]
        found.sort(key=lambda e: _time(e["timestamp"]), reverse=order == "timestamp desc")
        start = int(body.get("pageToken") or 0)
        page = found[start : start + size]
        out: dict[str, Any] = {"entries": page}
        if start + size < len(found):
            out["nextPageToken"] = str(start + size)
        return Response(body=out)

    def _clause(self, text: str) -> Any:
        match = _CLAUSE.match(text.strip())
        if match is None:
            raise ValueError(f"unsupported clause {text!r}")
        field, op, raw = match["field"], match["op"], match["value"]
        if raw.startswith("("):
            if op != "=":
                raise ValueError(f"alternatives only with '=': {text!r}")
            options = _ALTERNATIVE.findall(raw)
            if not options or " OR ".join(f'"{o}"' for o in options) != raw[1:-1].strip():
                raise ValueError(f"unsupported alternatives {raw!r}")
            return lambda e: _lookup(e, field) in options
        value = raw[1:-1].replace('\\"', '"')
        if field == "timestamp":
            bound = _time(value)
            compare = {
                "=": lambda t: t == bound,
                "!=": lambda t: t != bound,
                ">": lambda t: t > bound,
                ">=": lambda t: t >= bound,
                "<": lambda t: t < bound,
                "<=": lambda t: t <= bound,
            }[op]
            return lambda e: compare(_time(e["timestamp"]))
        if op == "=":
            return lambda e: str(_lookup(e, field)) == value
        if op == "!=":
            return lambda e: str(_lookup(e, field)) != value
        raise ValueError(f"ordering comparison on {field!r} is not modelled")
