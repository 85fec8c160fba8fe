variable "project_id" {
  type        = string
  description = "ID of the Google Cloud project that owns the address."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project ID: 6-30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "name" {
  type        = string
  description = "Name of the global address (the Ingress refers to it by this name)."

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$", var.name))
    error_message = "name must be 1-63 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels put on the address."
  default     = {}
}

variable "cloud_armor" {
  type = object({
    enabled                     = optional(bool, false)
    process_requests_per_minute = optional(number, 600)
  })
  description = "Optional Cloud Armor policy for the API's backend: a per-client-IP limit of POST /process requests per minute (over it: 429). Off by default (a policy and its rules are billed monthly)."
  default     = {}

  validation {
    condition     = var.cloud_armor.process_requests_per_minute >= 1 && var.cloud_armor.process_requests_per_minute <= 100000 && floor(var.cloud_armor.process_requests_per_minute) == var.cloud_armor.process_requests_per_minute
    error_message = "cloud_armor.process_requests_per_minute must be a whole number between 1 and 100000."
  }
}
