output "cluster_name" {
  description = "Name of the GKE Autopilot cluster."
  value       = module.gke.cluster_name
}

output "cluster_location" {
  description = "Region of the cluster."
  value       = module.gke.location
}

output "cluster_endpoint" {
  description = "Control plane address."
  value       = module.gke.endpoint
  sensitive   = true
}

output "cluster_dns_endpoint" {
  description = "DNS-based control-plane endpoint (FQDN, no scheme): sreplat's Kubernetes and Helm clients connect to https://<it>, authenticated by a Google access token and gated by IAM container.clusters.connect."
  value       = module.gke.dns_endpoint
}

output "cluster_ca_certificate" {
  description = "Base64 CA certificate of the control plane."
  value       = module.gke.ca_certificate
  sensitive   = true
}

output "workload_pool" {
  description = "Workload Identity pool (<project>.svc.id.goog)."
  value       = module.gke.workload_pool
}

output "get_credentials_command" {
  description = "gcloud command that writes a kubeconfig entry for the cluster."
  value       = module.gke.get_credentials_command
}
