"""Parsing Terraform's machine-readable UI: the lines below are shapes Terraform 1.11 prints."""

from __future__ import annotations

import json

from sreplat.tools.terraform.driver import summarise_plan_json
from sreplat.tools.terraform.events import (
    LOCK_SUMMARY,
    StreamCollector,
    parse_line,
    parse_lock_info,
    to_event,
)

RESOURCE = {
    "addr": "module.net.google_compute_network.vpc",
    "module": "module.net",
    "resource": "google_compute_network.vpc",
    "resource_type": "google_compute_network",
    "resource_name": "vpc",
}
LOCK_DETAIL = (
    "Error message: resource temporarily unavailable\n"
    "Lock Info:\n"
    "  ID:        85b932d2-237a-8816-e7f3-fef062afe1db\n"
    "  Path:      bucket/sreplat/dev/foundation/default.tflock\n"
    "  Operation: OperationTypeApply\n"
    "  Who:       alice@laptop\n"
    "  Version:   1.11.4\n"
    "  Created:   2026-11-26 06:15:56.963932974 +0000 UTC\n"
    "  Info:      \n\n\nTerraform acquires a state lock to protect the state..."
)


def line(**fields: object) -> str:
    return json.dumps({"@level": "info", "@message": "m", "@module": "terraform.ui", **fields})


def test_unknown_and_non_json_lines_are_ignored() -> None:
    assert parse_line("not json") is None
    assert parse_line("{broken") is None
    assert parse_line(json.dumps({"no": "type"})) is None
    future = parse_line(line(type="quantum_entanglement", payload={"x": 1}))
    assert future is not None
    assert to_event(future) is None
    collector = StreamCollector()
    collector.take(future)
    assert collector.diagnostics == [] and collector.summary is None


def test_apply_hooks_become_per_resource_events() -> None:
    start = parse_line(line(type="apply_start", hook={"resource": RESOURCE, "action": "create"}))
    done = parse_line(
        line(
            type="apply_complete",
            hook={
                "resource": RESOURCE,
                "action": "create",
                "id_key": "id",
                "id_value": "vpc-1",
                "elapsed_seconds": 42,
            },
        )
    )
    assert start is not None and done is not None
    started, completed = to_event(start, step="foundation"), to_event(done)
    assert started is not None and completed is not None
    assert started.kind == "terraform.apply_start" and started.step == "foundation"
    assert started.data == {
        "address": RESOURCE["addr"],
        "resource_type": "google_compute_network",
        "module": "module.net",
        "action": "create",
    }
    assert completed.data["elapsed_s"] == 42 and completed.data["id"] == "vpc-1"


def test_change_summary_maps_remove_to_destroy() -> None:
    message = parse_line(
        line(
            type="change_summary",
            changes={"add": 3, "change": 1, "import": 0, "remove": 2, "operation": "plan"},
        )
    )
    assert message is not None
    collector = StreamCollector()
    collector.take(message)
    assert collector.summary is not None
    assert (collector.summary.add, collector.summary.change, collector.summary.destroy) == (3, 1, 2)
    event = to_event(message)
    assert event is not None and event.data["destroy"] == 2 and event.data["operation"] == "plan"


def test_output_values_never_reach_events() -> None:
    message = parse_line(line(type="outputs", outputs={"token": {"sensitive": True, "value": "hunter2"}}))
    assert message is not None
    event = to_event(message)
    assert event is not None
    assert event.data == {"names": ["token"]}
    assert "hunter2" not in json.dumps(event.to_dict())


def test_diagnostics_render_summary_detail_and_location() -> None:
    message = parse_line(
        line(
            type="diagnostic",
            diagnostic={
                "severity": "error",
                "summary": "Invalid reference",
                "detail": "A reference to a resource type must be followed by...\nsecond line",
                "address": "google_dns_record_set.api",
                "range": {"filename": "modules/dns/main.tf", "start": {"line": 12, "column": 3}},
            },
        )
    )
    assert message is not None
    collector = StreamCollector()
    collector.take(message)
    [diag] = collector.errors
    assert diag.location() == "modules/dns/main.tf:12"
    assert diag.render().splitlines() == [
        "Error: Invalid reference (modules/dns/main.tf:12, google_dns_record_set.api)",
        "  A reference to a resource type must be followed by...",
        "  second line",
    ]


def test_lock_info_is_parsed_from_the_lock_diagnostic() -> None:
    lock = parse_lock_info(LOCK_DETAIL)
    assert lock is not None
    assert lock.id == "85b932d2-237a-8816-e7f3-fef062afe1db"
    assert lock.who == "alice@laptop"
    assert lock.operation == "OperationTypeApply"
    assert lock.path.endswith("default.tflock")
    assert "held by alice@laptop, for apply" in lock.render()
    assert parse_lock_info("Error: something else") is None

    message = parse_line(
        line(
            type="diagnostic",
            diagnostic={"severity": "error", "summary": LOCK_SUMMARY, "detail": LOCK_DETAIL},
        )
    )
    assert message is not None
    collector = StreamCollector()
    collector.take(message)
    found = collector.lock_info()
    assert found is not None and found.who == "alice@laptop"


def test_plan_json_summary_counts_replace_as_add_and_destroy() -> None:
    document = {
        "resource_changes": [
            {"address": "a.x", "type": "a", "change": {"actions": ["create"]}},
            {"address": "a.y", "type": "a", "change": {"actions": ["delete", "create"]}},
            {"address": "a.z", "type": "a", "change": {"actions": ["update"]}},
            {"address": "a.w", "type": "a", "change": {"actions": ["no-op"]}},
            {"address": "a.v", "type": "a", "change": {"actions": ["delete"]}},
            {
                "address": "module.m.a.u",
                "module_address": "module.m",
                "type": "a",
                "change": {"actions": ["read"]},
            },
        ]
    }
    summary, changes = summarise_plan_json(document)
    assert (summary.add, summary.change, summary.destroy) == (2, 1, 2)
    assert [c.action for c in changes] == ["create", "replace", "update", "no-op", "delete", "read"]
    assert changes[-1].module == "module.m"
