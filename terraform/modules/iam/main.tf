# Identities only. No service account key resource anywhere: workloads use Workload Identity
# (bound in the gke_autopilot module once the cluster's pool exists) and CI uses Workload
# Identity Federation, so no long-lived key is ever created.

resource "google_service_account" "workload" {
  for_each = var.workload_roles

  project      = var.project_id
  account_id   = "${var.name_prefix}-${each.key}"
  display_name = "sreplat ${each.key} workload"
  description  = "Acts for the ${var.kubernetes_namespace}/${each.key} Kubernetes service account through Workload Identity."
}

resource "google_service_account" "node" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-nodes"
  display_name = "sreplat GKE nodes"
  description  = "Least-privilege identity of the Autopilot nodes (instead of the Compute Engine default account)."
}

resource "google_service_account" "deployer" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-deployer"
  display_name = "sreplat CI deployer"
  description  = "Pushes images and rolls out releases; used from CI through Workload Identity Federation, never with a key."
}

resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-build"
  display_name = "sreplat image builds"
  description  = "Runs the Cloud Build fallback: reads build contexts under source/ of the state bucket, pushes to this environment's repository, writes its logs. Nothing else."
}

locals {
  workload_grants = merge([
    for name, roles in var.workload_roles : {
      for role in roles : "${name}/${role}" => { member = google_service_account.workload[name].member, role = role }
    }
  ]...)
  project_grants = merge(
    local.workload_grants,
    { for role in var.node_roles : "nodes/${role}" => { member = google_service_account.node.member, role = role } },
    { for role in var.deployer_roles : "deployer/${role}" => { member = google_service_account.deployer.member, role = role } },
    # Cloud Build with a user-specified service account and CLOUD_LOGGING_ONLY logs.
    { "build/roles/logging.logWriter" = { member = google_service_account.build.member, role = "roles/logging.logWriter" } },
  )
}

resource "google_project_iam_member" "grants" {
  for_each = local.project_grants

  project = var.project_id
  role    = each.value.role
  member  = each.value.member
}

resource "google_artifact_registry_repository_iam_member" "nodes_read" {
  project    = var.project_id
  location   = var.artifact_registry_repository.location
  repository = var.artifact_registry_repository.name
  role       = "roles/artifactregistry.reader"
  member     = google_service_account.node.member
}

resource "google_artifact_registry_repository_iam_member" "deployer_write" {
  project    = var.project_id
  location   = var.artifact_registry_repository.location
  repository = var.artifact_registry_repository.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.deployer.member
}

resource "google_artifact_registry_repository_iam_member" "build_write" {
  project    = var.project_id
  location   = var.artifact_registry_repository.location
  repository = var.artifact_registry_repository.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.build.member
}

# --- the Terraform state bucket (conditions in state_access.tf) ---------------------------------
# Part of the foundation stack, so `destroy` takes these grants away with the rest.
resource "google_storage_bucket_iam_member" "deployer_reads_states" {
  count = var.state_bucket == null ? 0 : 1

  bucket = var.state_bucket.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.deployer.member

  condition {
    title       = "sreplat ${var.state_bucket.prefix} stack states"
    description = "Read-only: the foundation and cluster states of this environment."
    expression  = local.state_conditions.deployer_reads_states
  }
}

resource "google_storage_bucket_iam_member" "deployer_writes_release" {
  count = var.state_bucket == null ? 0 : 1

  bucket = var.state_bucket.name
  role   = "roles/storage.objectUser"
  member = google_service_account.deployer.member

  condition {
    title       = "sreplat ${var.state_bucket.prefix} release record and lock"
    description = "The release record and the environment lock of this environment, nothing else."
    expression  = local.state_conditions.deployer_writes_release
  }
}

resource "google_storage_bucket_iam_member" "build_reads_sources" {
  count = var.state_bucket == null ? 0 : 1

  bucket = var.state_bucket.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member

  condition {
    title       = "sreplat build contexts"
    description = "Build contexts uploaded for Cloud Build."
    expression  = local.state_conditions.build_reads_sources
  }
}

# --- GitHub Actions -> deployer, keyless (Workload Identity Federation) -------------------------
# Who may impersonate the deployer is decided in github_trust.tf (the pool id, the attribute
# mapping and the condition, built without any provider so tests evaluate the exact strings).
resource "google_iam_workload_identity_pool" "github" {
  count = local.github_enabled ? 1 : 0

  project                   = var.project_id
  workload_identity_pool_id = local.github_pool_id
  display_name              = "sreplat GitHub Actions"
  description               = "OIDC tokens of GitHub Actions runs of ${var.github_repository}."
}

resource "google_iam_workload_identity_pool_provider" "github" {
  count = local.github_enabled ? 1 : 0

  project                            = var.project_id
  workload_identity_pool_id          = google_iam_workload_identity_pool.github[0].workload_identity_pool_id
  workload_identity_pool_provider_id = "github-actions"
  display_name                       = "GitHub Actions"
  description                        = "Trusts only repository id ${var.github_repository_id} (${var.github_repository}), environments ${join(", ", local.github_environments)}."

  attribute_mapping   = local.github_attribute_mapping
  attribute_condition = local.github_attribute_condition

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

# The repository's numeric id, not its name: a repository that later takes the name gets nothing.
resource "google_service_account_iam_member" "deployer_federation" {
  count = local.github_enabled ? 1 : 0

  service_account_id = google_service_account.deployer.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github[0].name}/attribute.repository_id/${var.github_repository_id}"
}
