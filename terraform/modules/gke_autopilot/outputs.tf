output "cluster_name" {
  description = "Name of the cluster."
  value       = google_container_cluster.this.name
}

output "cluster_id" {
  description = "ID of the cluster (projects/<p>/locations/<region>/clusters/<name>)."
  value       = google_container_cluster.this.id
}

output "location" {
  description = "Region of the cluster."
  value       = google_container_cluster.this.location
}

output "endpoint" {
  description = "Address of the control plane (public unless enable_private_endpoint)."
  value       = google_container_cluster.this.endpoint
  sensitive   = true
}

output "dns_endpoint" {
  description = "Fully qualified name of the DNS-based control-plane endpoint (<uid>.<region>.gke.goog); clients connect to https://<it> with a Google access token, IAM-gated."
  value       = google_container_cluster.this.control_plane_endpoints_config[0].dns_endpoint_config[0].endpoint
}

output "ca_certificate" {
  description = "Base64 CA certificate of the control plane."
  value       = google_container_cluster.this.master_auth[0].cluster_ca_certificate
  sensitive   = true
}

output "workload_pool" {
  description = "Workload Identity pool of the cluster (<project>.svc.id.goog)."
  value       = local.workload_pool
}

output "get_credentials_command" {
  description = "The gcloud command that writes a kubeconfig entry for this cluster."
  value       = "gcloud container clusters get-credentials ${google_container_cluster.this.name} --region ${google_container_cluster.this.location} --project ${var.project_id}"
}
