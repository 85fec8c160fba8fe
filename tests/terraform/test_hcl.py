"""Invariants of terraform/ read with python-hcl2: house style, security, Autopilot constraints,
and every argument name checked against the google provider's schema (see provider_schema.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.terraform.hcl import (
    MODULES,
    STACKS,
    TERRAFORM_DIR,
    Block,
    blocks,
    module_dir,
    parse,
    resources,
    tf_files,
    unquote,
)
from tests.terraform.provider_schema import DIGEST, check_block, used_types

BASIC_ROLES = ("roles/owner", "roles/editor", "roles/viewer")


def only(items: list[Block]) -> Block:
    assert len(items) == 1, [b.where for b in items]
    return items[0]


def in_module(name: str, resource_type: str) -> Block:
    return only(resources(resource_type, module_dir(name)))


def first(block_list: Any) -> dict[str, Any]:
    """The first (usually only) instance of a nested block; python-hcl2 gives lists of dicts."""
    assert isinstance(block_list, list) and block_list, "block missing"
    assert isinstance(block_list[0], dict)
    return block_list[0]


# --- layout and style -----------------------------------------------------------------------
@pytest.mark.parametrize("name", MODULES)
def test_module_has_the_house_layout(name: str) -> None:
    for file in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
        assert (module_dir(name) / file).is_file(), f"modules/{name}/{file} missing"


@pytest.mark.parametrize("name", STACKS)
def test_stack_has_a_readme_and_an_empty_gcs_backend(name: str) -> None:
    stack = TERRAFORM_DIR / "stacks" / name
    assert (stack / "README.md").is_file()
    [terraform] = [b for b in blocks("terraform", stack)]
    [backend] = terraform.blocks("backend")
    assert list(k for k in backend if not k.startswith("__")) == ['"gcs"']
    settings = {k: v for k, v in backend['"gcs"'].items() if not k.startswith("__")}
    assert settings == {}, "bucket and prefix are supplied at init (-backend-config)"


def test_every_variable_is_typed_and_described() -> None:
    variables = blocks("variable")
    assert len(variables) > 40
    for var in variables:
        assert var.body.get("type"), f"{var.where}: no type"
        assert str(var.get("description", "")).strip(), f"{var.where}: no description"


def test_every_output_is_described() -> None:
    outputs = blocks("output")
    assert len(outputs) > 30
    for out in outputs:
        assert str(out.get("description", "")).strip(), f"{out.where}: no description"


def test_module_inputs_with_a_closed_set_of_values_are_validated() -> None:
    must_validate = {
        "network": {"project_id", "region", "name", "subnet_cidr", "pods_cidr", "services_cidr"},
        "gke_autopilot": {
            "release_channel",
            "master_authorized_networks",
            "maintenance_window",
            "node_service_account",
        },
        "artifact_registry": {"keep_recent_versions", "untagged_max_age_days", "repository_id"},
        "dns": {"domain", "ingress_address", "api_host"},
        "iam": {"name_prefix", "workload_roles", "github_repository", "github_refs"},
    }
    for module, names in must_validate.items():
        declared = {b.labels[0]: b for b in blocks("variable", module_dir(module))}
        for name in names:
            assert declared[name].blocks("validation"), f"modules/{module}: variable {name} has no validation"


def test_google_provider_is_bounded_on_both_sides_to_the_current_major() -> None:
    terraform_blocks = blocks("terraform")
    assert terraform_blocks
    for tf in terraform_blocks:
        assert unquote(tf.body.get("required_version", "")).startswith(">="), tf.where
        providers = first(tf.blocks("required_providers"))
        google = providers["google"]
        assert isinstance(google, dict)
        assert unquote(google["source"]) == "hashicorp/google"
        constraint = str(unquote(google["version"]))
        assert re.fullmatch(r">= 7\.\d+(\.\d+)?, < 8\.0", constraint), f"{tf.where}: {constraint}"


def test_no_provider_blocks_inside_modules() -> None:
    for name in MODULES:
        assert not blocks("provider", module_dir(name)), f"modules/{name} must not configure providers"


# --- every argument exists in the provider's schema -------------------------------------------
def test_the_schema_digest_covers_every_google_type_we_use() -> None:
    digest = json.loads(DIGEST.read_text())
    resources_used, data_used = used_types()
    assert resources_used, "no google resources found"
    missing = sorted(resources_used - set(digest["types"])) + sorted(
        f"data.{d}" for d in data_used if f"data.{d}" not in digest["types"]
    )
    assert not missing, f"regenerate the digest (python -m tests.terraform.provider_schema): {missing}"


def test_every_argument_and_block_name_exists_in_the_provider_schema() -> None:
    digest = json.loads(DIGEST.read_text())["types"]
    problems: list[str] = []
    checked = 0
    for kind, prefix in (("resource", ""), ("data", "data.")):
        for block in blocks(kind):
            if not block.labels[0].startswith("google_"):
                continue
            checked += 1
            problems += check_block(block.body, digest[prefix + block.labels[0]], block.where)
    assert checked > 20
    assert not problems, "\n".join(problems)


def test_the_schema_check_catches_a_misspelling() -> None:
    digest = json.loads(DIGEST.read_text())["types"]["google_container_cluster"]
    body = {
        "name": '"x"',
        "enable_autopilots": True,
        "private_cluster_config": [{"enable_private_nodez": True}],
    }
    problems = list(check_block(body, digest, "x"))
    assert any("'enable_autopilots'" in p for p in problems)
    assert any("private_cluster_config" in p and "'enable_private_nodez'" in p for p in problems)
    assert list(check_block({}, digest, "x")) == ["x: required argument 'name' is missing"]
    # `count` is a meta-argument only at the top of a resource; nested, it is an argument.
    armor = json.loads(DIGEST.read_text())["types"]["google_compute_security_policy"]
    rule = {
        "action": '"throttle"',
        "priority": 1,
        "match": [{}],
        "rate_limit_options": [{"rate_limit_threshold": [{}]}],
    }
    assert any(
        "rate_limit_threshold: required argument 'count'" in p
        for p in check_block({"rule": [rule]}, armor, "x")
    )


# --- network ----------------------------------------------------------------------------------
def test_networks_are_custom_mode_and_never_the_default_network() -> None:
    networks = resources("google_compute_network")
    assert networks
    for net in networks:
        assert net.body.get("auto_create_subnetworks") is False, f"{net.where}: auto subnets"
        assert net.get("name") != "default"
    for path in tf_files():
        text = path.read_text()
        assert not re.search(r'network\s*=\s*"default"', text), f"{path}: uses the default network"


def test_subnet_has_private_google_access_flow_logs_and_secondary_ranges() -> None:
    subnet = in_module("network", "google_compute_subnetwork")
    assert subnet.body.get("private_ip_google_access") is True
    assert first(subnet.blocks("log_config")).get("flow_sampling") is not None
    assert len(subnet.blocks("secondary_ip_range")) == 2


def test_private_nodes_reach_the_internet_through_cloud_nat() -> None:
    nat = in_module("network", "google_compute_router_nat")
    assert unquote(nat.body["nat_ip_allocate_option"]) == "AUTO_ONLY"
    assert first(nat.blocks("log_config"))["enable"] is True
    in_module("network", "google_compute_router")


def test_no_firewall_rule_allows_traffic_from_anywhere() -> None:
    for rule in resources("google_compute_firewall"):
        sources = [unquote(s) for s in rule.body.get("source_ranges", [])]
        if rule.blocks("allow"):
            assert "0.0.0.0/0" not in sources and "::/0" not in sources, f"{rule.where}: broad allow"
        else:
            assert rule.blocks("deny"), rule.where


# --- GKE Autopilot ---------------------------------------------------------------------------
def cluster() -> Block:
    return in_module("gke_autopilot", "google_container_cluster")


def test_cluster_is_autopilot_with_private_nodes() -> None:
    gke = cluster()
    assert gke.body["enable_autopilot"] is True
    private = first(gke.blocks("private_cluster_config"))
    assert private["enable_private_nodes"] is True
    assert gke.blocks("master_authorized_networks_config"), "authorized networks always configured"


def test_control_plane_is_reached_through_the_iam_gated_dns_endpoint() -> None:
    """Issue 12 item 1: authorized networks with no CIDR block let no laptop or GitHub-hosted runner
    reach the IP endpoint; the DNS-based endpoint (IAM-gated) is the way in, and its name is an
    output of the module and of the cluster stack."""
    gke = cluster()
    endpoints = first(gke.blocks("control_plane_endpoints_config"))
    assert first(endpoints["dns_endpoint_config"])["allow_external_traffic"] is True
    authorized = first(gke.blocks("master_authorized_networks_config"))
    assert authorized["gcp_public_cidrs_access_enabled"] is False
    [cidrs] = authorized["dynamic"]
    assert cidrs['"cidr_blocks"']["for_each"] == "${var.master_authorized_networks}"
    [default] = [
        v
        for v in blocks("variable", module_dir("gke_autopilot"))
        if v.labels[0] == "master_authorized_networks"
    ]
    assert default.body["default"] == []
    # The output reads the block's computed `endpoint`, which the provider schema has.
    schema = json.loads(DIGEST.read_text())["types"]["google_container_cluster"]
    dns_schema = schema["control_plane_endpoints_config"]["block"]["dns_endpoint_config"]["block"]
    assert "endpoint" in dns_schema and "allow_external_traffic" in dns_schema
    [out] = [o for o in blocks("output", module_dir("gke_autopilot")) if o.labels[0] == "dns_endpoint"]
    assert out.body["value"] == (
        "${google_container_cluster.this.control_plane_endpoints_config[0].dns_endpoint_config[0].endpoint}"
    )
    [stack_out] = [
        o
        for o in blocks("output", TERRAFORM_DIR / "stacks" / "cluster")
        if o.labels[0] == "cluster_dns_endpoint"
    ]
    assert stack_out.body["value"] == "${module.gke.dns_endpoint}"


def test_autopilot_managed_settings_are_not_set() -> None:
    # The GKE API rejects these on Autopilot clusters (nodes are Google's).
    forbidden = {
        "node_config",
        "node_pool",
        "remove_default_node_pool",
        "initial_node_count",
        "enable_shielded_nodes",
        "network_policy",
        "enable_intranode_visibility",
        "default_max_pods_per_node",
        "enable_tpu",
        "enable_legacy_abac",
    }
    assert not forbidden & set(cluster().body), forbidden & set(cluster().body)
    assert not resources("google_container_node_pool")


def test_cluster_has_release_channel_maintenance_prometheus_and_workload_identity() -> None:
    gke = cluster()
    assert first(gke.blocks("release_channel"))["channel"] == "${var.release_channel}"
    assert first(first(gke.blocks("maintenance_policy"))["recurring_window"])
    monitoring = first(gke.blocks("monitoring_config"))
    assert first(monitoring["managed_prometheus"])["enabled"] is True
    assert "svc.id.goog" in str(parse(module_dir("gke_autopilot") / "main.tf")["locals"])
    assert gke.blocks("workload_identity_config")
    auth = first(first(gke.blocks("master_auth"))["client_certificate_config"])
    assert auth["issue_client_certificate"] is False


def test_cluster_nodes_do_not_run_as_the_default_compute_account() -> None:
    defaults = first(first(cluster().blocks("cluster_autoscaling"))["auto_provisioning_defaults"])
    assert defaults["service_account"] == "${var.node_service_account}"


def test_deletion_protection_is_on_by_default_everywhere() -> None:
    assert cluster().body["deletion_protection"] == "${var.deletion_protection}"
    for root in (module_dir("gke_autopilot"), TERRAFORM_DIR / "stacks" / "cluster"):
        [var] = [v for v in blocks("variable", root) if v.labels[0] == "deletion_protection"]
        assert var.body["default"] is True, var.where


def test_optional_binary_authorization_and_secrets_encryption_are_wired() -> None:
    gke = cluster()
    assert "enable_binary_authorization" in str(first(gke.blocks("binary_authorization"))["evaluation_mode"])
    encryption = first(gke.blocks("database_encryption"))
    assert encryption["key_name"] == "${var.database_encryption_key}"


# --- registry, DNS, ingress ----------------------------------------------------------------------
def test_registry_has_immutable_tags_and_cleanup_policies() -> None:
    repo = in_module("artifact_registry", "google_artifact_registry_repository")
    assert repo.get("format") == "DOCKER"
    assert first(repo.blocks("docker_config"))["immutable_tags"] is True
    assert repo.body.get("cleanup_policy_dry_run") is False
    policies = {unquote(p["id"]): p for p in repo.blocks("cleanup_policies")}
    keep = policies["keep-recent"]
    assert unquote(keep["action"]) == "KEEP"
    assert first(keep["most_recent_versions"])["keep_count"] == "${var.keep_recent_versions}"
    untagged = first(policies["delete-untagged"]["condition"])
    assert unquote(policies["delete-untagged"]["action"]) == "DELETE"
    assert unquote(untagged["tag_state"]) == "UNTAGGED"
    assert str(untagged["older_than"]).endswith('s"')


def test_dns_zone_has_dnssec_on_with_strong_keys() -> None:
    zone = in_module("dns", "google_dns_managed_zone")
    dnssec = first(zone.blocks("dnssec_config"))
    assert unquote(dnssec["state"]) == "on"
    for spec in dnssec["default_key_specs"]:
        assert unquote(spec["algorithm"]) != "rsasha1"
    record = in_module("dns", "google_dns_record_set")
    assert record.get("type") == "A"
    assert record.body["rrdatas"] == ["${var.ingress_address}"]


def test_registry_never_deletes_an_image_a_recorded_release_uses() -> None:
    repo = in_module("artifact_registry", "google_artifact_registry_repository")
    policies = {unquote(p["id"]): p for p in repo.blocks("cleanup_policies")}
    keep = policies["keep-released"]
    assert unquote(keep["action"]) == "KEEP"  # KEEP wins over every DELETE policy
    condition = first(keep["condition"])
    assert unquote(condition["tag_state"]) == "TAGGED"
    assert condition["tag_prefixes"] == ["${var.release_tag_prefix}"]
    [prefix] = [
        v for v in blocks("variable", module_dir("artifact_registry")) if v.labels[0] == "release_tag_prefix"
    ]
    assert unquote(prefix.body["default"]) == "release-"


def test_dns_module_outputs_the_active_ds_record() -> None:
    [keys] = [b for b in blocks("data", module_dir("dns")) if b.labels[0] == "google_dns_keys"]
    assert keys.get("managed_zone") == "${google_dns_managed_zone.this.id}"
    [out] = [o for o in blocks("output", module_dir("dns")) if o.labels[0] == "ds_record"]
    assert "key.ds_record if key.is_active" in str(out.body["value"])
    stack = {o.labels[0]: o for o in blocks("output", TERRAFORM_DIR / "stacks" / "foundation")}
    assert stack["dns_ds_record"].body["value"] == "${module.dns.ds_record}"


def test_load_balancer_tls_policy_is_modern_and_at_least_tls_1_2() -> None:
    policy = in_module("ingress", "google_compute_ssl_policy")
    assert (policy.get("profile"), policy.get("min_tls_version")) == ("MODERN", "TLS_1_2")
    stack = {o.labels[0]: o for o in blocks("output", TERRAFORM_DIR / "stacks" / "foundation")}
    assert stack["ssl_policy_name"].body["value"] == "${module.ingress.ssl_policy_name}"


def test_optional_cloud_armor_limits_post_process_per_client_ip() -> None:
    armor = in_module("ingress", "google_compute_security_policy")
    assert armor.body["count"] == "${var.cloud_armor.enabled ? 1 : 0}"
    rules = armor.blocks("rule")
    throttle = next(r for r in rules if unquote(r["action"]) == "throttle")
    expression = unquote(first(first(throttle["match"])["expr"])["expression"])
    assert expression == "request.method == 'POST' && request.path == '/process'"
    limit = first(throttle["rate_limit_options"])
    assert (unquote(limit["enforce_on_key"]), unquote(limit["exceed_action"])) == ("IP", "deny(429)")
    threshold = first(limit["rate_limit_threshold"])
    assert (
        threshold["count"] == "${var.cloud_armor.process_requests_per_minute}"
        and threshold["interval_sec"] == 60
    )
    default = next(r for r in rules if r["priority"] == 2147483647)
    assert unquote(default["action"]) == "allow"
    [enabled] = [v for v in blocks("variable", module_dir("ingress")) if v.labels[0] == "cloud_armor"]
    assert enabled.body["default"] == {}, "off unless sreplat.toml turns it on"


def test_ingress_address_is_global_and_external() -> None:
    address = in_module("ingress", "google_compute_global_address")
    assert address.get("address_type") == "EXTERNAL"


# --- IAM --------------------------------------------------------------------------------------
def test_no_service_account_key_is_ever_created() -> None:
    assert not resources("google_service_account_key")
    assert not [b for b in blocks("data") if b.labels[0] == "google_service_account_key"]
    for path in tf_files():
        assert "google_service_account_key" not in path.read_text(), path


def test_iam_is_additive_and_never_grants_basic_roles() -> None:
    for block in resources():
        kind = block.labels[0]
        assert not kind.endswith(("_iam_binding", "_iam_policy")), f"{block.where}: authoritative IAM"
    for path in tf_files():
        text = path.read_text()
        for role in BASIC_ROLES:
            for match in re.finditer(re.escape(f'"{role}"'), text):
                line = text[: match.start()].count("\n") + 1
                context = text.splitlines()[line - 1]
                assert "contains(" in context, f"{path}:{line} grants {role}"


def test_ci_deployer_gets_cluster_viewer_only_never_project_wide_kubernetes_rights() -> None:
    """Issue 12: roles/container.developer reaches every Secret of every cluster in the project.
    The deployer gets roles/container.clusterViewer (find the cluster, pass the DNS endpoint's IAM
    check); what it may do inside is the platform chart's Role in namespace sreplat."""
    [roles] = [v for v in blocks("variable", module_dir("iam")) if v.labels[0] == "deployer_roles"]
    assert roles.body["default"] == ['"roles/container.clusterViewer"']
    for path in tf_files():
        text = path.read_text()
        for broad in ("roles/container.developer", "roles/container.admin", "roles/storage.admin"):
            assert broad not in text, f"{path}: {broad}"


def test_build_account_has_exactly_logs_repository_push_and_source_reads() -> None:
    sa = {b.labels[1]: b for b in resources("google_service_account", module_dir("iam"))}
    assert "build" in sa
    main = (module_dir("iam") / "main.tf").read_text()
    assert '"build/roles/logging.logWriter"' in main
    [push] = [
        b
        for b in resources("google_artifact_registry_repository_iam_member", module_dir("iam"))
        if b.get("member") == "${google_service_account.build.member}"
    ]
    assert push.get("role") == "roles/artifactregistry.writer"
    builds = [
        b
        for b in resources("google_storage_bucket_iam_member", module_dir("iam"))
        if b.get("member") == "${google_service_account.build.member}"
    ]
    assert [(b.labels[1], b.get("role")) for b in builds] == [
        ("build_reads_sources", "roles/storage.objectViewer")
    ]
    stack = {o.labels[0]: o for o in blocks("output", TERRAFORM_DIR / "stacks" / "foundation")}
    assert stack["build_service_account_email"].body["value"] == "${module.iam.build_service_account_email}"


def test_workloads_are_bound_through_workload_identity() -> None:
    binding = in_module("gke_autopilot", "google_service_account_iam_member")
    assert binding.get("role") == "roles/iam.workloadIdentityUser"
    assert (
        binding.get("member")
        == "serviceAccount:${local.workload_pool}[${each.value.namespace}/${each.value.kubernetes_sa}]"
    )


def test_github_federation_trusts_only_the_issuer_and_the_rules_of_github_trust_tf() -> None:
    provider = in_module("iam", "google_iam_workload_identity_pool_provider")
    assert (
        unquote(first(provider.blocks("oidc"))["issuer_uri"]) == "https://token.actions.githubusercontent.com"
    )
    # The condition and mapping themselves are evaluated with CEL in tests/workflows/test_federation.py.
    assert provider.get("attribute_condition") == "${local.github_attribute_condition}"
    trust = (module_dir("iam") / "github_trust.tf").read_text()
    for claim in ("repository_id", "repository_owner_id", "environment", "ref", "event_name"):
        assert f"assertion.{claim}" in trust, claim
    assert "assertion.sub ==" not in trust, "sub differs between jobs with and without an environment"
    federation = only(
        [
            b
            for b in resources("google_service_account_iam_member", module_dir("iam"))
            if "federation" in b.labels[1]
        ]
    )
    assert str(federation.get("member")).startswith("principalSet://iam.googleapis.com/")
    assert "attribute.repository_id/${var.github_repository_id}" in str(federation.get("member"))


# --- stacks -------------------------------------------------------------------------------------
def test_cluster_stack_reads_the_foundation_state_from_the_same_bucket() -> None:
    cluster_stack = TERRAFORM_DIR / "stacks" / "cluster"
    [remote] = [b for b in blocks("data", cluster_stack) if b.labels[0] == "terraform_remote_state"]
    assert remote.get("backend") == "gcs"
    assert remote.body["config"] == {
        "bucket": "${var.state_bucket}",
        "prefix": "${var.foundation_state_prefix}",
    }
    foundation_outputs = {b.labels[0] for b in blocks("output", TERRAFORM_DIR / "stacks" / "foundation")}
    used = set(re.findall(r"local\.foundation\.(\w+)", (cluster_stack / "main.tf").read_text()))
    assert used and used <= foundation_outputs, used - foundation_outputs


def test_module_calls_pass_only_declared_variables_and_all_required_ones() -> None:
    calls = [b for b in blocks("module") if str(b.get("source", "")).startswith("../../modules/")]
    assert len(calls) >= 12
    for call in calls:
        name = str(call.get("source")).rsplit("/", 1)[-1]
        declared = {v.labels[0]: v for v in blocks("variable", module_dir(name))}
        passed = {k for k in call.body if not k.startswith("__")} - {
            "source",
            "depends_on",
            "providers",
            "count",
            "for_each",
        }
        assert passed <= set(declared), f"{call.where}: unknown inputs {passed - set(declared)}"
        required = {n for n, v in declared.items() if "default" not in v.body}
        assert required <= passed, f"{call.where}: missing inputs {required - passed}"


def test_module_outputs_referenced_by_callers_exist() -> None:
    for root in (TERRAFORM_DIR / "stacks", TERRAFORM_DIR / "examples"):
        for path in tf_files(root):
            calls = {
                b.labels[0]: str(b.get("source")).rsplit("/", 1)[-1] for b in blocks("module", path.parent)
            }
            for alias, attr in re.findall(r"\bmodule\.(\w+)\.(\w+)", path.read_text()):
                outputs = {o.labels[0] for o in blocks("output", module_dir(calls[alias]))}
                assert attr in outputs, f"{path}: module.{alias}.{attr} is not an output of {calls[alias]}"
