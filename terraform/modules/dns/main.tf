resource "google_dns_managed_zone" "this" {
  project     = var.project_id
  name        = var.zone_name
  dns_name    = "${var.domain}."
  description = "sreplat public zone for ${var.domain}."
  visibility  = "public"
  labels      = var.labels

  dnssec_config {
    state         = "on"
    non_existence = "nsec3"

    # RSASHA256 for both keys: RSASHA1 is weak (and flagged by scanners).
    default_key_specs {
      algorithm  = "rsasha256"
      key_length = 2048
      key_type   = "keySigning"
    }

    default_key_specs {
      algorithm  = "rsasha256"
      key_length = 1024
      key_type   = "zoneSigning"
    }
  }

  cloud_logging_config {
    enable_logging = true
  }
}

resource "google_dns_record_set" "api" {
  project      = var.project_id
  managed_zone = google_dns_managed_zone.this.name
  name         = "${var.api_host}.${google_dns_managed_zone.this.dns_name}"
  type         = "A"
  ttl          = var.record_ttl
  rrdatas      = [var.ingress_address]
}

# The zone's DNSSEC keys: the key-signing key's DS record goes to the registrar (or parent zone)
# beside the NS records, or resolvers that validate cannot trust the zone's answers.
data "google_dns_keys" "this" {
  project      = var.project_id
  managed_zone = google_dns_managed_zone.this.id
}
