# Every module wired together in one root module, with literal values: what the two stacks
# (terraform/stacks/foundation + terraform/stacks/cluster) do, minus the split and the backend.

module "network" {
  source = "../../modules/network"

  project_id = var.project_id
  region     = var.region
  name       = "example"
}

module "registry" {
  source = "../../modules/artifact_registry"

  project_id           = var.project_id
  region               = var.region
  repository_id        = "example"
  keep_recent_versions = 5
}

module "ingress" {
  source = "../../modules/ingress"

  project_id = var.project_id
  name       = "example-ingress"
}

module "dns" {
  source = "../../modules/dns"

  project_id      = var.project_id
  zone_name       = "example"
  domain          = "dev.acme.example"
  ingress_address = module.ingress.address
}

module "iam" {
  source = "../../modules/iam"

  project_id                 = var.project_id
  name_prefix                = "example"
  github_repository          = "acme/platform"
  github_repository_id       = "123456789"
  github_repository_owner_id = "987654321"
  github_environments        = ["prod"]
  artifact_registry_repository = {
    location = var.region
    name     = module.registry.repository_id
  }
}

module "gke" {
  source = "../../modules/gke_autopilot"

  project_id                 = var.project_id
  region                     = var.region
  name                       = "example"
  network                    = module.network.network_self_link
  subnetwork                 = module.network.subnet_self_link
  pods_range_name            = module.network.pods_range_name
  services_range_name        = module.network.services_range_name
  node_service_account       = module.iam.node_service_account_email
  workload_identity_bindings = module.iam.workload_identity_bindings
  master_authorized_networks = [{ cidr_block = "203.0.113.0/24", display_name = "office" }]
  labels                     = { env = "example" }
}
