"""Terraform's machine-readable UI (``-json``) turned into sreplat events and facts.

Terraform prints one JSON object per line (``type`` says what it is). This module reads those
lines; it starts no process and prints nothing. Message types we do not know are ignored, so a
newer Terraform that adds some keeps working. Reference: Terraform's "Machine-Readable UI" doc.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from sreplat.events import Event

# Per-resource hooks: the UI shows these as live progress.
_HOOK_TYPES = frozenset(
    {
        "apply_start",
        "apply_progress",
        "apply_complete",
        "apply_errored",
        "refresh_start",
        "refresh_complete",
        "provision_start",
        "provision_progress",
        "provision_complete",
        "provision_errored",
    }
)
_CHANGE_TYPES = frozenset({"planned_change", "resource_drift"})
LOCK_SUMMARY = "Error acquiring the state lock"


@dataclass(frozen=True)
class Diagnostic:
    """One error or warning Terraform reported, with where it points when it points somewhere."""

    severity: str
    summary: str
    detail: str = ""
    filename: str | None = None
    line: int | None = None
    address: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def location(self) -> str | None:
        if self.filename is None:
            return None
        return f"{self.filename}:{self.line}" if self.line is not None else self.filename

    def render(self) -> str:
        """``Error: summary (main.tf:12, google_x.y)`` then the detail, indented."""
        where = ", ".join(p for p in (self.location(), self.address) if p)
        head = f"{self.severity.capitalize()}: {self.summary}" + (f" ({where})" if where else "")
        detail = self.detail.strip()
        if not detail:
            return head
        return head + "\n" + "\n".join(f"  {ln}" if ln else "" for ln in detail.splitlines())


@dataclass(frozen=True)
class ChangeSummary:
    """Counts of a plan or an apply. ``destroy`` is what Terraform's JSON calls ``remove``."""

    add: int = 0
    change: int = 0
    destroy: int = 0
    import_: int = 0

    @property
    def total(self) -> int:
        return self.add + self.change + self.destroy + self.import_

    def render(self) -> str:
        return f"{self.add} to add, {self.change} to change, {self.destroy} to destroy"


@dataclass(frozen=True)
class LockInfo:
    """Who holds a state lock, as Terraform reports it. Never used to unlock automatically."""

    id: str
    path: str = ""
    operation: str = ""
    who: str = ""
    version: str = ""
    created: str = ""

    def render(self) -> str:
        operation = self.operation.removeprefix("OperationType").lower() or "an operation"
        parts = [f"held by {self.who or 'an unknown holder'}", f"for {operation}"]
        if self.created:
            parts.append(f"since {self.created}")
        parts.append(f"lock ID {self.id}")
        return ", ".join(parts)


_LOCK_FIELD = re.compile(r"^\s*(ID|Path|Operation|Who|Version|Created|Info):[ \t]*(.*)$")


def parse_lock_info(detail: str) -> LockInfo | None:
    """Read the ``Lock Info:`` block of Terraform's lock diagnostic; None if there is none."""
    if "Lock Info:" not in detail:
        return None
    fields: dict[str, str] = {}
    for line in detail.split("Lock Info:", 1)[1].splitlines():
        match = _LOCK_FIELD.match(line)
        if match:
            fields.setdefault(match.group(1).lower(), match.group(2).strip())
    if not fields.get("id"):
        return None
    return LockInfo(
        id=fields["id"],
        path=fields.get("path", ""),
        operation=fields.get("operation", ""),
        who=fields.get("who", ""),
        version=fields.get("version", ""),
        created=fields.get("created", ""),
    )


def parse_line(line: str) -> dict[str, Any] | None:
    """One line of ``-json`` output as a dict, or None for anything that is not a UI message."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        message = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return None
    return message


def diagnostic_from(message: dict[str, Any]) -> Diagnostic | None:
    raw = message.get("diagnostic")
    if not isinstance(raw, dict):
        return None
    start = (raw.get("range") or {}).get("start") or {}
    line = start.get("line")
    return Diagnostic(
        severity=str(raw.get("severity", "error")),
        summary=str(raw.get("summary", "")).strip(),
        detail=str(raw.get("detail", "")),
        filename=(raw.get("range") or {}).get("filename"),
        line=line if isinstance(line, int) else None,
        address=raw.get("address"),
    )


def summary_from(message: dict[str, Any]) -> ChangeSummary | None:
    changes = message.get("changes")
    if message.get("type") != "change_summary" or not isinstance(changes, dict):
        return None
    return ChangeSummary(
        add=int(changes.get("add", 0)),
        change=int(changes.get("change", 0)),
        destroy=int(changes.get("remove", 0)),
        import_=int(changes.get("import", 0)),
    )


def _resource_facts(resource: Any) -> dict[str, Any]:
    if not isinstance(resource, dict):
        return {}
    return {
        "address": resource.get("addr"),
        "resource_type": resource.get("resource_type"),
        "module": resource.get("module") or None,
    }


def _hook_data(message: dict[str, Any]) -> dict[str, Any]:
    hook = message.get("hook") or {}
    data = _resource_facts(hook.get("resource"))
    for key in ("action", "provisioner", "id_value"):
        if hook.get(key) is not None:
            data["id" if key == "id_value" else key] = hook[key]
    if isinstance(hook.get("elapsed_seconds"), int | float):
        data["elapsed_s"] = hook["elapsed_seconds"]
    return data


def _change_data(message: dict[str, Any]) -> dict[str, Any]:
    change = message.get("change") or {}
    data = _resource_facts(change.get("resource"))
    data["action"] = change.get("action")
    if change.get("reason"):
        data["reason"] = change["reason"]
    return data


def _summary_data(message: dict[str, Any]) -> dict[str, Any] | None:
    summary = summary_from(message)
    if summary is None:
        return None
    return {
        "add": summary.add,
        "change": summary.change,
        "destroy": summary.destroy,
        "import": summary.import_,
        "operation": (message.get("changes") or {}).get("operation"),
    }


def _diagnostic_data(message: dict[str, Any]) -> dict[str, Any] | None:
    diag = diagnostic_from(message)
    if diag is None:
        return None
    return {
        "severity": diag.severity,
        "summary": diag.summary,
        "location": diag.location(),
        "address": diag.address,
    }


def _outputs_data(message: dict[str, Any]) -> dict[str, Any]:
    # Names only: values may be sensitive.
    outputs = message.get("outputs")
    return {"names": sorted(outputs) if isinstance(outputs, dict) else []}


def to_event(message: dict[str, Any], *, step: str | None = None) -> Event | None:
    """The sreplat Event for one UI message; None for types we skip or do not know.

    Kinds are ``terraform.<terraform type>`` (``terraform.apply_start``...). Output values are
    never put in events, only output names (they may be sensitive).
    """
    kind = message["type"]
    data: dict[str, Any] | None
    if kind in _HOOK_TYPES:
        data = _hook_data(message)
    elif kind in _CHANGE_TYPES:
        data = _change_data(message)
    elif kind == "change_summary":
        data = _summary_data(message)
    elif kind == "diagnostic":
        data = _diagnostic_data(message)
    elif kind == "outputs":
        data = _outputs_data(message)
    elif kind in ("log", "init_output"):
        data = {}
    else:
        return None
    if data is None:
        return None
    return Event(
        kind=f"terraform.{kind}",
        message=str(message.get("@message", "")).strip(),
        step=step,
        data={k: v for k, v in data.items() if v is not None},
    )


@dataclass
class StreamCollector:
    """Accumulates what one Terraform run reported on its ``-json`` stream.

    Fed line by line from proc's reader thread; read by the caller once the process has ended.
    """

    diagnostics: list[Diagnostic] = field(default_factory=list)
    summary: ChangeSummary | None = None
    planned: list[dict[str, Any]] = field(default_factory=list)

    def take(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "diagnostic":
            diag = diagnostic_from(message)
            if diag is not None:
                self.diagnostics.append(diag)
        elif kind == "change_summary":
            self.summary = summary_from(message) or self.summary
        elif kind == "planned_change":
            self.planned.append(message.get("change") or {})

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    def lock_info(self) -> LockInfo | None:
        for diag in self.errors:
            if diag.summary == LOCK_SUMMARY:
                return parse_lock_info(diag.detail) or LockInfo(id="unknown")
        return None
