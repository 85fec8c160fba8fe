"""Issue 12 item 7: README's least-privilege role list for the person who bootstraps is derived
from what the stacks create, so the two cannot drift apart.

Each Google resource type the stacks create (through their modules) maps to the predefined role
that holds the permission its create call needs (cloud.google.com/iam/docs/roles-permissions:
compute, container, dns, artifactregistry, iam, resourcemanager, serviceusage, storage). The
README's table must list exactly those roles, plus the ones bootstrap needs outside Terraform.
"""

from __future__ import annotations

import re

from tests.terraform.hcl import TERRAFORM_DIR, blocks, unquote

REPO = TERRAFORM_DIR.parent
# resource type -> ((role, the permission that needs it), ...)
ROLE_FOR_TYPE: dict[str, tuple[tuple[str, str], ...]] = {
    "google_project_service": (("roles/serviceusage.serviceUsageAdmin", "serviceusage.services.enable"),),
    "google_compute_network": (("roles/compute.networkAdmin", "compute.networks.create"),),
    "google_compute_subnetwork": (("roles/compute.networkAdmin", "compute.subnetworks.create"),),
    "google_compute_router": (("roles/compute.networkAdmin", "compute.routers.create"),),
    "google_compute_router_nat": (("roles/compute.networkAdmin", "compute.routers.update"),),
    "google_compute_global_address": (("roles/compute.networkAdmin", "compute.globalAddresses.create"),),
    # compute.networkAdmin can only read firewalls: creating one is compute.securityAdmin's.
    "google_compute_firewall": (("roles/compute.securityAdmin", "compute.firewalls.create"),),
    "google_compute_ssl_policy": (("roles/compute.securityAdmin", "compute.sslPolicies.create"),),
    "google_compute_security_policy": (("roles/compute.securityAdmin", "compute.securityPolicies.create"),),
    "google_artifact_registry_repository": (
        ("roles/artifactregistry.admin", "artifactregistry.repositories.create"),
    ),
    "google_artifact_registry_repository_iam_member": (
        ("roles/artifactregistry.admin", "artifactregistry.repositories.setIamPolicy"),
    ),
    "google_dns_managed_zone": (("roles/dns.admin", "dns.managedZones.create"),),
    "google_dns_record_set": (("roles/dns.admin", "dns.changes.create"),),
    "data.google_dns_keys": (("roles/dns.admin", "dns.dnsKeys.list"),),
    "google_service_account": (("roles/iam.serviceAccountAdmin", "iam.serviceAccounts.create"),),
    "google_service_account_iam_member": (
        ("roles/iam.serviceAccountAdmin", "iam.serviceAccounts.setIamPolicy"),
    ),
    "google_project_iam_member": (
        ("roles/resourcemanager.projectIamAdmin", "resourcemanager.projects.setIamPolicy"),
    ),
    "google_iam_workload_identity_pool": (
        ("roles/iam.workloadIdentityPoolAdmin", "iam.workloadIdentityPools.create"),
    ),
    "google_iam_workload_identity_pool_provider": (
        ("roles/iam.workloadIdentityPoolAdmin", "iam.workloadIdentityPoolProviders.create"),
    ),
    "google_storage_bucket_iam_member": (("roles/storage.admin", "storage.buckets.setIamPolicy"),),
    # Creating a cluster whose nodes run as a service account needs actAs on that account.
    "google_container_cluster": (
        ("roles/container.admin", "container.clusters.create"),
        ("roles/iam.serviceAccountUser", "iam.serviceAccounts.actAs"),
    ),
}
# What bootstrap does besides the stacks.
BEYOND_THE_STACKS = {
    "roles/storage.admin": "creates the versioned state bucket",
    "roles/container.admin": "creates the namespace and installs the releases, the deployer's Role included",
    "roles/cloudbuild.builds.editor": "only without Docker: submits Cloud Build builds",
    "roles/iam.serviceAccountUser": "Cloud Build runs as the build service account (actAs)",
}
# Built-in resources need no Google permission.
BUILTIN = ("terraform_data", "terraform_remote_state")


def stack_types() -> set[str]:
    """Resource and data source types the two stacks create, through every module they call."""
    found: set[str] = set()
    for stack in ("foundation", "cluster"):
        roots = [TERRAFORM_DIR / "stacks" / stack]
        for call in blocks("module", roots[0]):
            roots.append((roots[0] / str(unquote(call.get("source")))).resolve())
        for root in roots:
            found |= {b.labels[0] for b in blocks("resource", root)}
            found |= {f"data.{b.labels[0]}" for b in blocks("data", root)}
    return {t for t in found if not t.removeprefix("data.").startswith(BUILTIN)}


def readme_roles() -> dict[str, str]:
    text = (REPO / "README.md").read_text()
    section = text[text.index("<!-- bootstrap-roles -->") : text.index("<!-- /bootstrap-roles -->")]
    return dict(re.findall(r"^\| `(roles/[\w.]+)` \| (.+?) \|$", section, re.M))


def test_every_resource_type_the_stacks_create_has_a_role() -> None:
    types = stack_types()
    assert len(types) > 15
    assert types <= set(ROLE_FOR_TYPE), f"no role known for {sorted(types - set(ROLE_FOR_TYPE))}"
    assert "google_compute_firewall" in types and "google_container_cluster" in types


def test_readme_lists_exactly_the_roles_the_stacks_and_bootstrap_need() -> None:
    needed = {role for t in stack_types() for role, _ in ROLE_FOR_TYPE[t]} | set(BEYOND_THE_STACKS)
    listed = readme_roles()
    assert set(listed) == needed, (
        f"README lacks {sorted(needed - set(listed))}; lists unneeded {sorted(set(listed) - needed)}"
    )
    # Issue 12: firewall rules and the cluster's node service account were missing.
    assert {"roles/compute.securityAdmin", "roles/iam.serviceAccountUser"} <= set(listed)
    for role in ("roles/owner", "roles/editor"):
        assert role not in listed
