variable "project_id" {
  type        = string
  description = "ID of the Google Cloud project of the VPC."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project ID: 6-30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "zone_name" {
  type        = string
  description = "Name of the private Cloud DNS zone."

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$", var.zone_name))
    error_message = "zone_name must be 1-63 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "network" {
  type        = string
  description = "Self link (or ID) of the VPC network that sees the zone."

  validation {
    condition     = can(regex("projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/global/networks/[a-z]([-a-z0-9]{0,61}[a-z0-9])?$", var.network))
    error_message = "network must be a VPC network self link or ID (…projects/<project>/global/networks/<name>)."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels of the zone."
  default     = {}
}
