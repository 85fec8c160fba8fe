"""The releases' namespace from helm/namespace.yaml (issue 12: Pod Security Admission enforces
`restricted`), applied with the real `kubernetes` client by server-side apply to the Kubernetes
double: created when missing, labels brought up to the manifest on a namespace an older sreplat
made (Helm's create-namespace: no labels), nothing written when it is up to date."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sreplat.errors import UsageError
from sreplat.tools.gcp.gke import ClusterAccess
from sreplat.tools.kube.namespace import apply_namespace, read_manifest
from tests.doubles.fixtures import KUBE_TOKEN
from tests.doubles.kube import KubeDouble
from tests.doubles.kube_objects import namespace

MANIFEST = Path(__file__).resolve().parents[4] / "helm" / "namespace.yaml"
PSA = {
    f"pod-security.kubernetes.io/{mode}{suffix}": value
    for mode in ("enforce", "warn", "audit")
    for suffix, value in (("", "restricted"), ("-version", "latest"))
}


@pytest.fixture
def api(kube_double: KubeDouble, kube_ca_pem: str) -> Any:
    access = ClusterAccess(endpoint=kube_double.url, ca_pem=kube_ca_pem, token=KUBE_TOKEN)
    with access.api_client() as client:
        yield client


def labels(kube: KubeDouble) -> dict[str, str]:
    ns = kube.get("Namespace", "sreplat")
    assert ns is not None
    return dict(ns["metadata"].get("labels") or {})


def test_a_missing_namespace_is_created_with_the_pod_security_labels(
    api: Any, kube_double: KubeDouble
) -> None:
    change = apply_namespace(api, read_manifest(MANIFEST))
    assert change.created and change.describe() == "namespace sreplat created"
    assert PSA.items() <= labels(kube_double).items()
    apply = kube_double.calls("PATCH", "/api/v1/namespaces/sreplat$")
    assert len(apply) == 1 and apply[0].headers["content-type"] == "application/apply-patch+yaml"
    assert apply[0].param("fieldManager") == "sreplat"


def test_an_unlabelled_namespace_gets_the_labels_and_an_applied_one_is_left_alone(
    api: Any, kube_double: KubeDouble
) -> None:
    kube_double.put(namespace())  # what Helm's create-namespace made for older sreplat versions
    change = apply_namespace(api, read_manifest(MANIFEST))
    assert not change.created and "pod-security.kubernetes.io/enforce" in change.changed_labels
    assert PSA.items() <= labels(kube_double).items()
    kube_double.reset_calls()
    again = apply_namespace(api, read_manifest(MANIFEST))
    assert not again.changed and again.describe() == "namespace sreplat up to date"
    assert [c.method for c in kube_double.calls()] == ["GET"]


def test_a_manifest_that_is_not_a_namespace_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "ns.yaml"
    bad.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    with pytest.raises(UsageError, match="not a v1 Namespace"):
        read_manifest(bad)
