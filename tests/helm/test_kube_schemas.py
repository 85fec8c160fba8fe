"""Every rendered object validates: core kinds against the Kubernetes OpenAPI schemas in strict
mode (kubernetes-validate, unknown fields rejected), the GKE / Managed Prometheus custom kinds
against the JSON schemas in crd_schemas/ (kubernetes-validate ships no CRD schemas)."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.helm.charts import Scenario, one, rendered, scenarios

pytestmark = pytest.mark.helm

# A current GKE minor (regular channel) and the newest minor kubernetes-validate ships, so an API
# removed upstream shows here before a cluster upgrade does.
KUBE_VERSIONS = ("1.35", "1.37")
CRD_DIR = Path(__file__).parent / "crd_schemas"
# kind -> apiVersion of the custom kinds the charts render; validated with crd_schemas/<kind>.json.
CUSTOM_KINDS = {
    "BackendConfig": "cloud.google.com/v1",
    "FrontendConfig": "networking.gke.io/v1beta1",
    "ManagedCertificate": "networking.gke.io/v1",
    "PodMonitoring": "monitoring.googleapis.com/v1",
    "Rules": "monitoring.googleapis.com/v1",
}


@cache
def crd_validator(kind: str) -> Any:
    import jsonschema

    schema = json.loads((CRD_DIR / f"{kind.lower()}.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def validate(obj: dict[str, Any]) -> None:
    import kubernetes_validate

    if obj["kind"] in CUSTOM_KINDS:
        crd_validator(obj["kind"]).validate(obj)
        return
    for version in KUBE_VERSIONS:
        kubernetes_validate.validate(obj, version, strict=True)


def test_kube_versions_are_shipped_by_kubernetes_validate() -> None:
    from kubernetes_validate.utils import all_versions

    # validate() silently falls back to an older minor; make sure ours are really there.
    shipped = {v.rsplit(".", 1)[0] for v in all_versions()}
    assert set(KUBE_VERSIONS) <= shipped


@pytest.mark.parametrize("scenario", scenarios(), ids=lambda s: s.id)
def test_every_object_validates_strictly(scenario: Scenario) -> None:
    for obj in rendered(scenario):
        validate(obj)


def test_every_custom_kind_rendered_has_a_schema() -> None:
    seen = {
        o["kind"]: o["apiVersion"]
        for s in scenarios()
        for o in rendered(s)
        if "." in o["apiVersion"].split("/")[0]
    }
    custom = {k: v for k, v in seen.items() if not v.split("/")[0].endswith(".k8s.io")}
    assert custom == CUSTOM_KINDS


def _api_default() -> tuple[dict[str, Any], ...]:
    (default,) = [s for s in scenarios("api") if s.name == "default"]
    return rendered(default)


def test_strict_mode_rejects_an_unknown_field() -> None:
    import kubernetes_validate

    deployment = copy.deepcopy(one(_api_default(), "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}  # wrong case
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSIONS[0], strict=True)


@pytest.mark.parametrize(
    ("kind", "mutate"),
    [
        ("BackendConfig", lambda o: o["spec"]["healthCheck"].update(requestPath="readyz")),
        ("BackendConfig", lambda o: o["spec"]["healthCheck"].update(type="TCP")),
        ("BackendConfig", lambda o: o["spec"].update(healthcheck={})),
        ("PodMonitoring", lambda o: o["spec"]["endpoints"][0].update(interval="30 seconds")),
        ("PodMonitoring", lambda o: o.update(apiVersion="monitoring.googleapis.com/v1alpha1")),
        ("PodMonitoring", lambda o: o["spec"].pop("selector")),
    ],
)
def test_crd_schemas_reject_mistakes(kind: str, mutate: Any) -> None:
    import jsonschema

    obj = copy.deepcopy(one(_api_default(), kind))
    crd_validator(kind).validate(obj)
    mutate(obj)
    with pytest.raises(jsonschema.ValidationError):
        crd_validator(kind).validate(obj)


def test_ingress_crd_schemas_reject_mistakes() -> None:
    import jsonschema

    (gke,) = [s for s in scenarios("api") if s.name == "gke"]
    cert = copy.deepcopy(one(rendered(gke), "ManagedCertificate"))
    cert["spec"]["domains"] = ["*.example.org"]  # Google-managed certificates take no wildcards
    with pytest.raises(jsonschema.ValidationError):
        crd_validator("ManagedCertificate").validate(cert)
    frontend = copy.deepcopy(one(rendered(gke), "FrontendConfig"))
    frontend["spec"]["redirectToHttps"]["responseCodeName"] = "301"
    with pytest.raises(jsonschema.ValidationError):
        crd_validator("FrontendConfig").validate(frontend)
