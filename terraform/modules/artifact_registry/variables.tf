variable "project_id" {
  type        = string
  description = "ID of the Google Cloud project that owns the repository."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project ID: 6-30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "Region of the repository (images live at <region>-docker.pkg.dev)."

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as asia-south1."
  }
}

variable "repository_id" {
  type        = string
  description = "ID of the Docker repository."

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", var.repository_id))
    error_message = "repository_id must be 1-63 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "keep_recent_versions" {
  type        = number
  description = "Number of most recent versions of each image always kept, whatever their age (rollback targets)."
  default     = 10

  validation {
    condition     = var.keep_recent_versions >= 1 && floor(var.keep_recent_versions) == var.keep_recent_versions
    error_message = "keep_recent_versions must be a whole number of at least 1."
  }
}

variable "release_tag_prefix" {
  type        = string
  description = "Tag prefix of released images: sreplat tags each image of a recorded release <prefix><git-sha>, and the cleanup never deletes a version carrying such a tag."
  default     = "release-"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_.-]{0,63}$", var.release_tag_prefix))
    error_message = "release_tag_prefix must be a valid start of a Docker tag: lowercase letters, digits, '_', '.', '-', starting with a letter."
  }
}

variable "untagged_max_age_days" {
  type        = number
  description = "Untagged versions (leftovers of multi-arch or failed pushes) are deleted once older than this."
  default     = 7

  validation {
    condition     = var.untagged_max_age_days >= 1 && floor(var.untagged_max_age_days) == var.untagged_max_age_days
    error_message = "untagged_max_age_days must be a whole number of days, at least 1."
  }
}

variable "tagged_max_age_days" {
  type        = number
  description = "Tagged versions older than this are deleted, except the keep_recent_versions newest and released ones."
  default     = 90

  validation {
    condition     = var.tagged_max_age_days >= 1 && floor(var.tagged_max_age_days) == var.tagged_max_age_days
    error_message = "tagged_max_age_days must be a whole number of days, at least 1."
  }
}

variable "kms_key_name" {
  type        = string
  description = "Cloud KMS key for customer-managed encryption of the repository; null uses Google-managed keys. Cannot change after creation."
  default     = null
}

variable "labels" {
  type        = map(string)
  description = "Labels put on the repository."
  default     = {}
}
