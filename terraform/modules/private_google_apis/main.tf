# Google APIs at fixed addresses, so Kubernetes NetworkPolicies (which cannot name hosts) can allow
# "Google APIs, nothing else": a private zone for googleapis.com, visible only to the VPC, resolves
# every *.googleapis.com name to private.googleapis.com (199.36.153.8/30), reached through Private
# Google Access (the subnet has it on). cloud.google.com/vpc/docs/configure-private-google-access,
# "Configure DNS for private.googleapis.com".

locals {
  private_addresses = ["199.36.153.8", "199.36.153.9", "199.36.153.10", "199.36.153.11"]
}

resource "google_dns_managed_zone" "googleapis" {
  project     = var.project_id
  name        = var.zone_name
  dns_name    = "googleapis.com."
  description = "Private zone: Google APIs through private.googleapis.com for the sreplat VPC."
  visibility  = "private"
  labels      = var.labels

  private_visibility_config {
    networks {
      network_url = var.network
    }
  }

  cloud_logging_config {
    enable_logging = true
  }
}

resource "google_dns_record_set" "private" {
  project      = var.project_id
  managed_zone = google_dns_managed_zone.googleapis.name
  name         = "private.googleapis.com."
  type         = "A"
  ttl          = 300
  rrdatas      = local.private_addresses
}

resource "google_dns_record_set" "wildcard" {
  project      = var.project_id
  managed_zone = google_dns_managed_zone.googleapis.name
  name         = "*.googleapis.com."
  type         = "CNAME"
  ttl          = 300
  rrdatas      = ["private.googleapis.com."]
}
