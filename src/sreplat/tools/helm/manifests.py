"""Rendered Helm manifests as objects, and what changes between two renderings (for `plan`).

Secrets are compared on their real values but never shown: every value under ``data`` and
``stringData`` prints as ``<redacted>`` (``<redacted, changed>`` where it differs).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sreplat.errors import OperationFailed

REDACTED = "<redacted>"
REDACTED_CHANGED = "<redacted, changed>"

ChangeKind = Literal["added", "removed", "changed"]


@dataclass(frozen=True, order=True)
class ObjectRef:
    """Identity of a Kubernetes object within a release."""

    kind: str
    namespace: str
    name: str
    api_group: str = ""

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{where}{self.name}"


@dataclass(frozen=True)
class ObjectChange:
    """One object that a new rendering adds, removes or changes; ``diff`` is a unified diff."""

    ref: ObjectRef
    change: ChangeKind
    diff: str


def parse_manifest(text: str, *, default_namespace: str = "") -> dict[ObjectRef, dict[str, Any]]:
    """Split a multi-document manifest (``helm get manifest`` / a release's ``manifest``) into
    objects keyed by identity. Empty documents and comments are skipped."""
    import yaml

    objects: dict[ObjectRef, dict[str, Any]] = {}
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise OperationFailed("a rendered manifest is not valid YAML", detail=str(exc)) from exc
    for doc in documents:
        if not isinstance(doc, dict) or "kind" not in doc:
            continue
        meta = doc.get("metadata") or {}
        api_version = str(doc.get("apiVersion", ""))
        group = api_version.rpartition("/")[0]
        ref = ObjectRef(
            kind=str(doc["kind"]),
            namespace=str(meta.get("namespace") or default_namespace),
            name=str(meta.get("name", "")),
            api_group=group,
        )
        objects[ref] = doc
    return objects


WORKLOAD_KINDS = ("Deployment", "StatefulSet")


def workloads(manifest: str) -> tuple[tuple[str, str], ...]:
    """The (kind, name) of every Deployment and StatefulSet in ``manifest``: what a rollout is."""
    return tuple((ref.kind, ref.name) for ref in parse_manifest(manifest) if ref.kind in WORKLOAD_KINDS)


def join_rendered(templates: Mapping[str, str]) -> str:
    """Concatenate ``Chart.render`` output (template path → text) into one manifest, in a stable
    order, leaving out NOTES.txt — the shape Helm stores as a release's manifest."""
    parts = [
        f"---\n# Source: {path}\n{body.strip()}\n"
        for path, body in sorted(templates.items())
        if not path.endswith("NOTES.txt") and body.strip()
    ]
    return "".join(parts)


def _redacted_pair(old: dict[str, Any] | None, new: dict[str, Any] | None) -> tuple[Any, Any]:
    """Copies of two versions of an object with Secret values masked, marking changed ones."""
    import copy

    old_c, new_c = copy.deepcopy(old), copy.deepcopy(new)
    for field in ("data", "stringData"):
        old_vals = (old or {}).get(field) or {}
        new_vals = (new or {}).get(field) or {}
        if old_c is not None and isinstance(old_c.get(field), dict):
            old_c[field] = dict.fromkeys(old_vals, REDACTED)
        if new_c is not None and isinstance(new_c.get(field), dict):
            new_c[field] = {
                k: (REDACTED if k in old_vals and old_vals[k] == v else REDACTED_CHANGED)
                for k, v in new_vals.items()
            }
    return old_c, new_c


def _dump(obj: Any) -> list[str]:
    import yaml

    if obj is None:
        return []
    dumped: str = yaml.safe_dump(obj, sort_keys=True, default_flow_style=False)
    return dumped.splitlines(keepends=True)


def diff_objects(
    old: Mapping[ObjectRef, dict[str, Any]], new: Mapping[ObjectRef, dict[str, Any]]
) -> tuple[ObjectChange, ...]:
    """Objects added, removed or changed from ``old`` to ``new``, sorted by identity."""
    changes: list[ObjectChange] = []
    for ref in sorted(set(old) | set(new)):
        before, after = old.get(ref), new.get(ref)
        if before == after:
            continue
        kind: ChangeKind = "added" if before is None else "removed" if after is None else "changed"
        if ref.kind == "Secret":
            shown_before, shown_after = _redacted_pair(before, after)
        else:
            shown_before, shown_after = before, after
        diff = "".join(
            difflib.unified_diff(
                _dump(shown_before), _dump(shown_after), fromfile=f"deployed {ref}", tofile=f"new {ref}"
            )
        )
        changes.append(ObjectChange(ref=ref, change=kind, diff=diff))
    return tuple(changes)


def summarize(changes: Iterable[ObjectChange]) -> dict[str, int]:
    counts = {"added": 0, "removed": 0, "changed": 0}
    for change in changes:
        counts[change.change] += 1
    return counts
