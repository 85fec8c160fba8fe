locals {
  labels     = merge(var.labels, { app = "sreplat", env = var.env_name, managed-by = "sreplat" })
  foundation = data.terraform_remote_state.foundation.outputs
}

# The foundation's outputs, read from its state in the same bucket: one source of truth, and
# sreplat only has to pass where that state is (not copy a dozen values between stacks).
data "terraform_remote_state" "foundation" {
  backend = "gcs"

  config = {
    bucket = var.state_bucket
    prefix = var.foundation_state_prefix
  }
}

module "gke" {
  source = "../../modules/gke_autopilot"

  project_id                  = var.project_id
  region                      = var.region
  name                        = "sreplat-${var.env_name}"
  network                     = local.foundation.network_self_link
  subnetwork                  = local.foundation.subnet_self_link
  pods_range_name             = local.foundation.pods_range_name
  services_range_name         = local.foundation.services_range_name
  node_service_account        = local.foundation.node_service_account_email
  workload_identity_bindings  = local.foundation.workload_identity_bindings
  master_authorized_networks  = var.master_authorized_networks
  release_channel             = var.release_channel
  deletion_protection         = var.deletion_protection
  enable_binary_authorization = var.enable_binary_authorization
  database_encryption_key     = var.database_encryption_key
  labels                      = local.labels
}

check "same_project_as_foundation" {
  assert {
    condition     = local.foundation.project_id == var.project_id && local.foundation.region == var.region
    error_message = "The foundation state at gs://${var.state_bucket}/${var.foundation_state_prefix} belongs to another project or region."
  }
}
