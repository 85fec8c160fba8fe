output "network_id" {
  description = "ID of the VPC (projects/<project>/global/networks/<name>)."
  value       = google_compute_network.this.id
}

output "network_name" {
  description = "Name of the VPC."
  value       = google_compute_network.this.name
}

output "network_self_link" {
  description = "Self link of the VPC."
  value       = google_compute_network.this.self_link
}

output "subnet_id" {
  description = "ID of the regional subnet."
  value       = google_compute_subnetwork.this.id
}

output "subnet_name" {
  description = "Name of the regional subnet."
  value       = google_compute_subnetwork.this.name
}

output "subnet_self_link" {
  description = "Self link of the regional subnet (the cluster's subnetwork)."
  value       = google_compute_subnetwork.this.self_link
}

output "pods_range_name" {
  description = "Name of the subnet's secondary range for Pods."
  value       = local.pods_range_name
}

output "services_range_name" {
  description = "Name of the subnet's secondary range for Services."
  value       = local.services_range_name
}

output "router_name" {
  description = "Name of the Cloud Router that carries Cloud NAT."
  value       = google_compute_router.this.name
}

output "nat_name" {
  description = "Name of the Cloud NAT gateway."
  value       = google_compute_router_nat.this.name
}
