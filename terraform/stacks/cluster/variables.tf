variable "project_id" {
  type        = string
  description = "Google Cloud project of the environment (sreplat.toml: project)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project ID: 6-30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "Region of the environment (sreplat.toml: region)."

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as asia-south1."
  }
}

variable "env_name" {
  type        = string
  description = "Environment name (the sreplat.toml [environments.<name>] key)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,11}$", var.env_name))
    error_message = "env_name must be 1-12 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "state_bucket" {
  type        = string
  description = "GCS bucket holding the Terraform states (the same bucket this stack's backend uses)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$", var.state_bucket))
    error_message = "state_bucket must be a GCS bucket name."
  }
}

variable "foundation_state_prefix" {
  type        = string
  description = "Prefix of the foundation stack's state in that bucket (its -backend-config=prefix)."

  validation {
    condition     = length(var.foundation_state_prefix) > 0 && !startswith(var.foundation_state_prefix, "/")
    error_message = "foundation_state_prefix must be a non-empty relative path such as sreplat/dev/foundation."
  }
}

variable "master_authorized_networks" {
  type = list(object({
    cidr_block   = string
    display_name = string
  }))
  description = "Networks allowed to reach the control plane's IP-based endpoint (sreplat.toml: master_authorized_networks); empty: none from outside the VPC, clients use the DNS-based endpoint."
  default     = []
}

variable "release_channel" {
  type        = string
  description = "GKE release channel."
  default     = "REGULAR"
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse to destroy the cluster; sreplat destroy sets it false first (protected environments keep it)."
  default     = true
}

variable "enable_binary_authorization" {
  type        = bool
  description = "Enforce the project's Binary Authorization policy."
  default     = false
}

variable "database_encryption_key" {
  type        = string
  description = "Cloud KMS key for application-layer Secrets encryption; null: Google-managed encryption."
  default     = null
}

variable "labels" {
  type        = map(string)
  description = "Extra labels put on every resource (on top of app=sreplat, env=<env_name>)."
  default     = {}
}
