locals {
  workload_pool = "${var.project_id}.svc.id.goog"
}

# Autopilot: Google runs the nodes. Node-level settings (node pools, node_config, shielded
# nodes, network policy, intranode visibility...) are managed by Autopilot and not set here:
# the API rejects them. Shielded nodes, Workload Identity, Dataplane V2 (network policies)
# and secure boot are always on.
resource "google_container_cluster" "this" {
  project          = var.project_id
  name             = var.name
  location         = var.region
  description      = "sreplat GKE Autopilot cluster."
  enable_autopilot = true

  network         = var.network
  subnetwork      = var.subnetwork
  networking_mode = "VPC_NATIVE"

  ip_allocation_policy {
    cluster_secondary_range_name  = var.pods_range_name
    services_secondary_range_name = var.services_range_name
  }

  private_cluster_config {
    enable_private_nodes    = true
    enable_private_endpoint = var.enable_private_endpoint
    master_ipv4_cidr_block  = var.master_ipv4_cidr_block

    master_global_access_config {
      enabled = false
    }
  }

  # The way in from a laptop or a GitHub-hosted runner: the DNS-based endpoint
  # (<uid>.<region>.gke.goog), reachable from anywhere that reaches Google APIs, where IAM
  # (container.clusters.connect, in roles/container.clusterViewer and up) is checked before the
  # request reaches the API server, then Kubernetes RBAC. No network allowlist to keep current.
  control_plane_endpoints_config {
    dns_endpoint_config {
      allow_external_traffic = true
    }
  }

  # The IP-based endpoint: always restricted. With no cidr_blocks (the default) nothing outside
  # the VPC reaches it; master_authorized_networks (sreplat.toml) can open it to given networks.
  master_authorized_networks_config {
    gcp_public_cidrs_access_enabled = false

    dynamic "cidr_blocks" {
      for_each = var.master_authorized_networks
      content {
        cidr_block   = cidr_blocks.value.cidr_block
        display_name = cidr_blocks.value.display_name
      }
    }
  }

  # Clients authenticate with Google identities; no client certificate is ever issued.
  master_auth {
    client_certificate_config {
      issue_client_certificate = false
    }
  }

  release_channel {
    channel = var.release_channel
  }

  maintenance_policy {
    recurring_window {
      start_time = var.maintenance_window.start_time
      end_time   = var.maintenance_window.end_time
      recurrence = var.maintenance_window.recurrence
    }
  }

  # Autopilot nodes run as this account rather than the Compute Engine default account.
  cluster_autoscaling {
    auto_provisioning_defaults {
      service_account = var.node_service_account
      oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    }
  }

  workload_identity_config {
    workload_pool = local.workload_pool
  }

  monitoring_config {
    managed_prometheus {
      enabled = true
    }
  }

  binary_authorization {
    evaluation_mode = var.enable_binary_authorization ? "PROJECT_SINGLETON_POLICY_ENFORCE" : "DISABLED"
  }

  database_encryption {
    state    = var.database_encryption_key == null ? "DECRYPTED" : "ENCRYPTED"
    key_name = var.database_encryption_key
  }

  resource_labels     = var.labels
  deletion_protection = var.deletion_protection
}

resource "google_service_account_iam_member" "workload_identity" {
  for_each = var.workload_identity_bindings

  service_account_id = each.value.google_service_account
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${local.workload_pool}[${each.value.namespace}/${each.value.kubernetes_sa}]"

  depends_on = [google_container_cluster.this]
}
