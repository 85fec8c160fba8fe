locals {
  prefix = "sreplat-${var.env_name}"
  labels = merge(var.labels, { app = "sreplat", env = var.env_name, managed-by = "sreplat" })
  apis = toset([
    "artifactregistry.googleapis.com",
    "cloudtrace.googleapis.com",
    "compute.googleapis.com",
    "container.googleapis.com",
    "dns.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "sts.googleapis.com",
  ])
}

resource "google_project_service" "apis" {
  for_each = var.enable_apis ? local.apis : toset([])

  project = var.project_id
  service = each.value
  # Destroying the environment must not switch APIs off for everything else in the project.
  disable_on_destroy = false
}

module "network" {
  source = "../../modules/network"

  project_id    = var.project_id
  region        = var.region
  name          = local.prefix
  subnet_cidr   = var.network.subnet_cidr
  pods_cidr     = var.network.pods_cidr
  services_cidr = var.network.services_cidr

  depends_on = [google_project_service.apis]
}

module "registry" {
  source = "../../modules/artifact_registry"

  project_id            = var.project_id
  region                = var.region
  repository_id         = local.prefix
  keep_recent_versions  = var.image_retention.keep_recent_versions
  untagged_max_age_days = var.image_retention.untagged_max_age_days
  tagged_max_age_days   = var.image_retention.tagged_max_age_days
  labels                = local.labels

  depends_on = [google_project_service.apis]
}

module "ingress" {
  source = "../../modules/ingress"

  project_id  = var.project_id
  name        = "${local.prefix}-ingress"
  labels      = local.labels
  cloud_armor = var.cloud_armor

  depends_on = [google_project_service.apis]
}

module "dns" {
  source = "../../modules/dns"

  project_id      = var.project_id
  zone_name       = local.prefix
  domain          = var.domain
  api_host        = var.api_host
  ingress_address = module.ingress.address
  labels          = local.labels

  depends_on = [google_project_service.apis]
}

module "iam" {
  source = "../../modules/iam"

  project_id                 = var.project_id
  name_prefix                = local.prefix
  github_repository          = var.github_repository
  github_repository_id       = var.github_repository_id
  github_repository_owner_id = var.github_repository_owner_id
  github_environments        = var.github_environments == null ? [var.env_name] : var.github_environments
  github_refs                = var.github_refs
  artifact_registry_repository = {
    location = var.region
    name     = module.registry.repository_id
  }
  state_bucket = var.state_bucket == null ? null : {
    name   = var.state_bucket
    prefix = coalesce(var.state_prefix, "sreplat/${var.env_name}")
  }

  depends_on = [google_project_service.apis]
}

# Observability: the collector's and the Managed Prometheus frontend's identities, and Google APIs
# at fixed addresses so the platform chart's NetworkPolicies can allow them and nothing else.
module "observability_iam" {
  source = "../../modules/observability_iam"

  project_id  = var.project_id
  name_prefix = local.prefix

  depends_on = [google_project_service.apis]
}

module "private_google_apis" {
  source = "../../modules/private_google_apis"

  project_id = var.project_id
  zone_name  = "${local.prefix}-googleapis"
  network    = module.network.network_self_link
  labels     = local.labels

  depends_on = [google_project_service.apis]
}
