locals {
  pods_range_name     = "${var.name}-pods"
  services_range_name = "${var.name}-services"
}

# Custom mode: no auto-created subnets in every region. (Projects should also have the
# compute.skipDefaultNetworkCreation org policy so no "default" network exists at all.)
resource "google_compute_network" "this" {
  project                 = var.project_id
  name                    = var.name
  description             = "sreplat VPC (custom mode)."
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"
}

resource "google_compute_subnetwork" "this" {
  project                  = var.project_id
  name                     = "${var.name}-${var.region}"
  description              = "Nodes of the GKE cluster; secondary ranges for Pods and Services."
  region                   = var.region
  network                  = google_compute_network.this.id
  ip_cidr_range            = var.subnet_cidr
  private_ip_google_access = true

  secondary_ip_range {
    range_name    = local.pods_range_name
    ip_cidr_range = var.pods_cidr
  }

  secondary_ip_range {
    range_name    = local.services_range_name
    ip_cidr_range = var.services_cidr
  }

  log_config {
    aggregation_interval = var.flow_logs_interval
    flow_sampling        = var.flow_logs_sampling
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

# Private nodes have no external address: Cloud NAT gives them egress (image pulls from outside
# Google, webhooks) without opening anything inbound.
resource "google_compute_router" "this" {
  project = var.project_id
  name    = "${var.name}-router"
  region  = var.region
  network = google_compute_network.this.id
}

resource "google_compute_router_nat" "this" {
  project                            = var.project_id
  name                               = "${var.name}-nat"
  region                             = var.region
  router                             = google_compute_router.this.name
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "LIST_OF_SUBNETWORKS"

  subnetwork {
    name                    = google_compute_subnetwork.this.id
    source_ip_ranges_to_nat = ["ALL_IP_RANGES"]
  }

  log_config {
    enable = true
    filter = var.nat_log_filter
  }
}

# The only rule here: an explicit, logged deny of all ingress at the lowest priority. The VPC's
# implied rule denies the same but logs nothing. Nothing broad is ever allowed; GKE adds the
# narrow allow rules it needs (control plane to nodes, load balancer health checks) itself,
# at higher priority.
resource "google_compute_firewall" "deny_all_ingress" {
  project     = var.project_id
  name        = "${var.name}-deny-all-ingress"
  description = "Deny (and log) any ingress not allowed by a more specific rule."
  network     = google_compute_network.this.id
  direction   = "INGRESS"
  priority    = 65534

  deny {
    protocol = "all"
  }

  source_ranges = ["0.0.0.0/0"]

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}
