# Reserved before the cluster exists so DNS can point at it early and the address survives
# re-creating the Ingress. GKE's Ingress picks it up through the
# kubernetes.io/ingress.global-static-ip-name annotation.
resource "google_compute_global_address" "this" {
  project      = var.project_id
  name         = var.name
  description  = "sreplat HTTPS load balancer address."
  address_type = "EXTERNAL"
  ip_version   = "IPV4"
  labels       = var.labels
}

# The HTTPS proxy's TLS policy (the Ingress names it through the api chart's FrontendConfig,
# ingress.sslPolicy): TLS 1.2 or newer, with the MODERN profile's cipher suites.
resource "google_compute_ssl_policy" "this" {
  project         = var.project_id
  name            = "${var.name}-tls"
  description     = "sreplat load balancer: TLS >= 1.2, MODERN profile."
  profile         = "MODERN"
  min_tls_version = "TLS_1_2"
}

# Optional Cloud Armor policy (the api chart's BackendConfig attaches it, backendConfig.securityPolicy):
# a per-client-IP rate limit on POST /process, the one endpoint that enqueues work. Everything
# else passes (the default rule); over the limit a client gets 429 until its rate drops.
resource "google_compute_security_policy" "this" {
  count = var.cloud_armor.enabled ? 1 : 0

  project     = var.project_id
  name        = "${var.name}-armor"
  description = "sreplat API: rate limit per client IP on POST /process."
  type        = "CLOUD_ARMOR"

  rule {
    action      = "throttle"
    priority    = 1000
    description = "At most ${var.cloud_armor.process_requests_per_minute} POST /process per minute per client IP."

    match {
      expr {
        expression = "request.method == 'POST' && request.path == '/process'"
      }
    }

    rate_limit_options {
      conform_action = "allow"
      exceed_action  = "deny(429)"
      enforce_on_key = "IP"

      rate_limit_threshold {
        count        = var.cloud_armor.process_requests_per_minute
        interval_sec = 60
      }
    }
  }

  rule {
    action      = "allow"
    priority    = 2147483647
    description = "Default: allow."

    match {
      versioned_expr = "SRC_IPS_V1"

      config {
        src_ip_ranges = ["*"]
      }
    }
  }
}
