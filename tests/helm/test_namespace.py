"""The sreplat namespace (helm/namespace.yaml): Pod Security Admission enforces `restricted`.

A Helm chart cannot create the namespace it installs into; bootstrap applies this manifest
first. Every pod the charts render already meets the restricted profile (test_policy.py), so
enforcing it changes nothing for them and refuses anything else.
"""

from __future__ import annotations

import pytest
import yaml

from tests.helm.charts import HELM_DIR, NAMESPACE
from tests.helm.test_kube_schemas import validate

pytestmark = pytest.mark.helm

# Labels and values of kubernetes.io/docs/concepts/security/pod-security-admission.
PSA_MODES = ("enforce", "warn", "audit")


def namespace() -> dict[str, object]:
    doc = yaml.safe_load((HELM_DIR / "namespace.yaml").read_text())
    assert isinstance(doc, dict)
    return doc


def test_namespace_is_the_releases_namespace_and_validates() -> None:
    ns = namespace()
    assert (ns["apiVersion"], ns["kind"]) == ("v1", "Namespace")
    assert ns["metadata"]["name"] == NAMESPACE  # type: ignore[index]
    validate(ns)


def test_pod_security_admission_enforces_restricted_at_the_latest_version() -> None:
    labels = namespace()["metadata"]["labels"]  # type: ignore[index]
    for mode in PSA_MODES:
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted", mode
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "latest", mode
    unknown = {k for k in labels if k.startswith("pod-security.kubernetes.io/")} - {
        f"pod-security.kubernetes.io/{m}{suffix}" for m in PSA_MODES for suffix in ("", "-version")
    }
    assert not unknown, f"labels PSA does not read: {unknown}"
