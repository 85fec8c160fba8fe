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
