variable "project_id" {
  type        = string
  description = "ID of the Google Cloud project that owns the zone."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project ID: 6-30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "zone_name" {
  type        = string
  description = "Name of the Cloud DNS managed zone resource (not the domain)."

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$", var.zone_name))
    error_message = "zone_name must be 1-63 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "domain" {
  type        = string
  description = "DNS domain the zone serves, without the trailing dot (e.g. dev.acme.example)."

  validation {
    condition     = can(regex("^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\.)+[a-z][-a-z0-9]{0,61}[a-z0-9]$", var.domain))
    error_message = "domain must be a lowercase DNS name such as dev.acme.example, without a trailing dot."
  }
}

variable "api_host" {
  type        = string
  description = "Host label of the API under the domain (api -> api.<domain>)."
  default     = "api"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.api_host))
    error_message = "api_host must be a single DNS label (lowercase letters, digits, hyphens)."
  }
}

variable "ingress_address" {
  type        = string
  description = "IPv4 address of the HTTPS load balancer the API record points at."

  validation {
    condition     = can(regex("^(\\d{1,3}\\.){3}\\d{1,3}$", var.ingress_address))
    error_message = "ingress_address must be an IPv4 address."
  }
}

variable "record_ttl" {
  type        = number
  description = "TTL in seconds of the API's A record."
  default     = 300

  validation {
    condition     = var.record_ttl >= 30 && var.record_ttl <= 86400
    error_message = "record_ttl must be between 30 and 86400 seconds."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels put on the managed zone."
  default     = {}
}
