"""Cloud Logging: the log entries of the platform's containers, through the real
``google-cloud-logging`` client (``entries.list``:
cloud.google.com/logging/docs/reference/v2/rest/v2/entries/list).

The client is forced onto its REST transport (``_use_grpc=False``: JSON over HTTPS to
``/v2/entries:list``), the same requests-based session with one deadline every other adapter
uses, and the endpoint override of ``GcpEndpoints.logging`` (tests: a double at the HTTP
boundary). Entries come oldest first (``orderBy: timestamp asc``).

On GKE the logging agent turns each JSON line of a container into a ``k8s_container`` entry:
the line's fields become ``jsonPayload`` except Cloud Logging's special fields, which it lifts
into the entry — ``severity``, and ``logging.googleapis.com/trace``/``spanId`` into
``LogEntry.trace``/``spanId`` (cloud.google.com/logging/docs/structured-logging).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sreplat.logs import LogLine, app_line, format_ts
from sreplat.tools.api_calls import Deadline
from sreplat.tools.gcp.access import GcpAccess, deadline_session, gcp_call

PAGE_SIZE = 1000
MAX_ENTRIES = 20000  # one listing; a follow asks again for what came after


@dataclass(frozen=True)
class Entry:
    insert_id: str
    timestamp: str  # RFC 3339, as the API gave it (the next poll's lower bound)
    line: LogLine


def list_entries(
    access: GcpAccess, filter_: str, *, timeout: float = 60.0, max_entries: int = MAX_ENTRIES
) -> list[Entry]:
    """The project's entries matching ``filter_``, oldest first."""
    from google.cloud import logging as cloud_logging

    deadline = Deadline(timeout)
    session = deadline_session(access.resolved_credentials(), deadline)
    client = cloud_logging.Client(  # type: ignore[no-untyped-call]
        project=access.project,
        credentials=access.resolved_credentials(),
        _http=session,
        _use_grpc=False,
        client_options=access.endpoints.options("logging"),
    )

    def attempt(_seconds_left: float) -> list[Entry]:
        found = client.list_entries(  # type: ignore[no-untyped-call]
            resource_names=[f"projects/{access.project}"],
            filter_=filter_,
            order_by=cloud_logging.ASCENDING,
            page_size=PAGE_SIZE,
            max_results=max_entries,
        )
        return [_entry(item) for item in found]

    try:
        return gcp_call("listing log entries (Cloud Logging)", deadline, attempt)
    finally:
        session.close()


def _entry(item: Any) -> Entry:
    resource = getattr(item, "resource", None)
    labels: Mapping[str, str] = getattr(resource, "labels", None) or {}
    container = str(labels.get("container_name", ""))
    source = str(labels.get("pod_name", "")) or container
    payload = item.payload
    timestamp = item.timestamp
    trace = str(item.trace or "")
    trace_id = trace.rsplit("/", 1)[-1] if trace else None
    if isinstance(payload, Mapping):
        line = app_line(payload, source=source, service=container, ts=timestamp)
        if trace_id or item.span_id:  # lifted out of jsonPayload into the entry
            line = LogLine(
                ts=line.ts,
                source=line.source,
                service=line.service,
                message=line.message,
                level=line.level or str(item.severity or ""),
                trace_id=line.trace_id or trace_id,
                span_id=line.span_id or (str(item.span_id) if item.span_id else None),
                fields=line.fields,
            )
    else:
        line = LogLine(
            ts=timestamp,
            source=source,
            service=container,
            message=str(payload or ""),
            level=str(item.severity or ""),
            trace_id=trace_id,
        )
    return Entry(insert_id=str(item.insert_id or ""), timestamp=format_ts(timestamp) or "", line=line)
