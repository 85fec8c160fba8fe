"""The observability identities and the private Google APIs zone, read with python-hcl2 and held
against what the platform chart renders: one role each, bound to the chart's own Kubernetes
service accounts, and Google APIs at the addresses the chart's NetworkPolicies allow."""

from __future__ import annotations

import ipaddress
import re

import pytest
import yaml

from tests.helm.charts import HELM_DIR, find, rendered, scenarios
from tests.terraform.hcl import TERRAFORM_DIR, Block, blocks, module_dir, resources, unquote

OBSERVABILITY = module_dir("observability_iam")
GOOGLE_APIS = module_dir("private_google_apis")


def only(items: list[Block]) -> Block:
    assert len(items) == 1, [b.where for b in items]
    return items[0]


def identities() -> dict[str, dict[str, str]]:
    (local,) = [b for b in blocks("locals", OBSERVABILITY) if "identities" in b.body]
    return {name: {k: unquote(v) for k, v in body.items()} for name, body in local.body["identities"].items()}


def test_each_observability_identity_has_exactly_its_one_role() -> None:
    assert {name: i["role"] for name, i in identities().items()} == {
        "collector": "roles/cloudtrace.agent",
        "gmp_frontend": "roles/monitoring.viewer",
    }
    # The only grants of the module: one per identity, its own role, its own account.
    grant = only(resources("google_project_iam_member", OBSERVABILITY))
    assert grant.get("for_each") == "${local.identities}"
    assert grant.get("role") == "${each.value.role}"
    assert grant.get("member") == "${google_service_account.this[each.key].member}"
    assert [b.labels[0] for b in resources(root=OBSERVABILITY)] == [
        "google_service_account",
        "google_project_iam_member",
    ]


@pytest.mark.helm
def test_the_bound_kubernetes_service_accounts_are_the_charts() -> None:
    (gke,) = [s for s in scenarios("platform") if s.name == "gke"]
    objs = rendered(gke)
    accounts = {sa["metadata"]["name"] for sa in find(objs, "ServiceAccount")}
    used_by = {
        w["metadata"]["name"]: w["spec"]["template"]["spec"]["serviceAccountName"]
        for w in objs
        if w["kind"] == "Deployment"
    }
    wanted = {i["kubernetes_sa"] for i in identities().values()}
    assert wanted <= accounts
    assert used_by["otel-collector"] == "otel-collector" and used_by["gmp-frontend"] == "gmp-frontend"
    assert used_by["grafana"] not in wanted, "Grafana itself has no Google identity"


def test_the_foundation_hands_both_sets_of_bindings_to_the_cluster_stack() -> None:
    foundation = TERRAFORM_DIR / "stacks" / "foundation"
    outputs = {b.labels[0]: b for b in blocks("output", foundation)}
    merged = str(outputs["workload_identity_bindings"].get("value"))
    assert "module.iam.workload_identity_bindings" in merged
    assert "module.observability_iam.workload_identity_bindings" in merged
    assert (
        outputs["observability_service_accounts"].get("value")
        == "${module.observability_iam.service_accounts}"
    )
    cluster = (TERRAFORM_DIR / "stacks" / "cluster" / "main.tf").read_text()
    assert re.search(
        r"workload_identity_bindings\s*=\s*local\.foundation\.workload_identity_bindings", cluster
    )


def test_google_apis_resolve_to_private_googleapis_inside_the_vpc_only() -> None:
    zone = only(resources("google_dns_managed_zone", GOOGLE_APIS))
    assert (zone.get("dns_name"), zone.get("visibility")) == ("googleapis.com.", "private")
    assert zone.blocks("private_visibility_config")[0]["networks"][0]["network_url"] == "${var.network}"
    records = {unquote(r.body["name"]): r for r in resources("google_dns_record_set", GOOGLE_APIS)}
    assert unquote(records["*.googleapis.com."].body["type"]) == "CNAME"
    assert [unquote(v) for v in records["*.googleapis.com."].body["rrdatas"]] == ["private.googleapis.com."]
    assert unquote(records["private.googleapis.com."].body["type"]) == "A"
    (local,) = blocks("locals", GOOGLE_APIS)
    addresses = {ipaddress.ip_address(unquote(a)) for a in local.body["private_addresses"]}
    # The documented private.googleapis.com range, all of it, and what the chart allows.
    assert addresses == set(ipaddress.ip_network("199.36.153.8/30"))
    chart_values = yaml.safe_load((HELM_DIR / "platform" / "values.yaml").read_text())
    assert chart_values["googleApis"]["cidrs"] == ["199.36.153.8/30"]
    network_module = (TERRAFORM_DIR / "modules" / "network" / "main.tf").read_text()
    assert "private_ip_google_access = true" in network_module  # how the VPC reaches that range
