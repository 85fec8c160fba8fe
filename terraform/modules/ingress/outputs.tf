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
