output "api_hostname" {
  description = "Host name of the API."
  value       = module.dns.api_hostname
}

output "registry_url" {
  description = "Where images are pushed."
  value       = module.registry.repository_url
}

output "get_credentials_command" {
  description = "How to reach the cluster."
  value       = module.gke.get_credentials_command
}
