output "address" {
  description = "The reserved IPv4 address."
  value       = google_compute_global_address.this.address
}

output "name" {
  description = "Name of the address (value of the kubernetes.io/ingress.global-static-ip-name annotation)."
  value       = google_compute_global_address.this.name
}

output "self_link" {
  description = "Self link of the address."
  value       = google_compute_global_address.this.self_link
}

output "ssl_policy_name" {
  description = "Name of the TLS policy for the HTTPS proxy (the api chart's ingress.sslPolicy)."
  value       = google_compute_ssl_policy.this.name
}

output "security_policy_name" {
  description = "Name of the Cloud Armor policy (the api chart's backendConfig.securityPolicy); null when cloud_armor is off."
  value       = one(google_compute_security_policy.this[*].name)
}
