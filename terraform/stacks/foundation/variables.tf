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
  description = "Environment name (the sreplat.toml [environments.<name>] key); prefixes every resource name."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,11}$", var.env_name))
    error_message = "env_name must be 1-12 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "domain" {
  type        = string
  description = "DNS domain of the environment, without the trailing dot (sreplat.toml: domain)."

  validation {
    condition     = can(regex("^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\.)+[a-z][-a-z0-9]{0,61}[a-z0-9]$", var.domain))
    error_message = "domain must be a lowercase DNS name such as dev.acme.example, without a trailing dot."
  }
}

variable "api_host" {
  type        = string
  description = "Host label of the API under the domain."
  default     = "api"
}

variable "github_repository" {
  type        = string
  description = "owner/name of the GitHub repository whose Actions deploy (keyless, Workload Identity Federation); null: no federation."
  default     = null
}

variable "github_repository_id" {
  type        = string
  description = "Numeric id of github_repository (GitHub API repos/<owner>/<name> .id); required with it. The federation trusts this id, not the name (sreplat.toml: github_repository_id)."
  default     = null
}

variable "github_repository_owner_id" {
  type        = string
  description = "Numeric id of the repository's owner (GitHub API .owner.id); required with github_repository (sreplat.toml: github_repository_owner_id)."
  default     = null
}

variable "github_environments" {
  type        = list(string)
  description = "GitHub environments whose jobs may deploy this environment; null: one named like the sreplat environment (env_name)."
  default     = null
}

variable "github_refs" {
  type        = list(string)
  description = "Git refs allowed to deploy from GitHub Actions."
  default     = ["refs/heads/main"]
}

variable "state_bucket" {
  type        = string
  description = "The GCS bucket holding this stack's state (the one sreplat creates; -backend-config=bucket). Given: the CI deployer and the build account get their object-level grants there. Null: none."
  default     = null
}

variable "state_prefix" {
  type        = string
  description = "This environment's prefix in the state bucket (sreplat.toml: state_prefix); null: sreplat/<env_name>."
  default     = null
}

variable "network" {
  type = object({
    subnet_cidr   = optional(string, "10.10.0.0/20")
    pods_cidr     = optional(string, "10.20.0.0/14")
    services_cidr = optional(string, "10.24.0.0/20")
  })
  description = "Address ranges of the VPC's subnet (nodes) and its secondary ranges (Pods, Services)."
  default     = {}
}

variable "image_retention" {
  type = object({
    keep_recent_versions  = optional(number, 10)
    untagged_max_age_days = optional(number, 7)
    tagged_max_age_days   = optional(number, 90)
  })
  description = "Cleanup of the image repository: versions always kept, ages after which untagged and tagged versions go."
  default     = {}
}

variable "cloud_armor" {
  type = object({
    enabled                     = optional(bool, false)
    process_requests_per_minute = optional(number, 600)
  })
  description = "Optional Cloud Armor policy on the API (sreplat.toml: cloud_armor): a per-client-IP rate limit on POST /process."
  default     = {}
}

variable "labels" {
  type        = map(string)
  description = "Extra labels put on every resource (on top of app=sreplat, env=<env_name>)."
  default     = {}
}

variable "enable_apis" {
  type        = bool
  description = "Enable the Google APIs the platform needs (turn off when the project is managed elsewhere)."
  default     = true
}
