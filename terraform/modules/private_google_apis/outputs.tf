output "cidr" {
  description = "Addresses every *.googleapis.com name resolves to in the VPC: the platform chart's googleApis.cidrs."
  value       = "${local.private_addresses[0]}/30"
}

output "zone_name" {
  description = "Name of the private zone."
  value       = google_dns_managed_zone.googleapis.name
}
