output "zone_name" {
  description = "Name of the managed zone resource."
  value       = google_dns_managed_zone.this.name
}

output "dns_name" {
  description = "Domain of the zone, with the trailing dot."
  value       = google_dns_managed_zone.this.dns_name
}

output "name_servers" {
  description = "Name servers to delegate the domain to (NS records at the parent)."
  value       = google_dns_managed_zone.this.name_servers
}

output "api_hostname" {
  description = "Fully qualified host name of the API, without the trailing dot."
  value       = trimsuffix(google_dns_record_set.api.name, ".")
}

output "ds_record" {
  description = "DS record of the zone's active key-signing key, to give the registrar (DNSSEC) beside the name servers."
  value       = one([for key in data.google_dns_keys.this.key_signing_keys : key.ds_record if key.is_active])
}
