variable "project_id" {
  type        = string
  description = "ID of the Google Cloud project the identities live in (and whose traces and metrics they write and read)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project ID: 6-30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "name_prefix" {
  type        = string
  description = "Prefix of the service account IDs (<prefix>-otel, <prefix>-gmp)."

  validation {
    condition     = can(regex("^[a-z][-a-z0-9]{1,20}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-22 lowercase letters, digits or hyphens, starting with a letter (service account IDs are at most 30 characters)."
  }
}

variable "kubernetes_namespace" {
  type        = string
  description = "Namespace of the Kubernetes service accounts otel-collector and gmp-frontend (the platform chart's release namespace)."
  default     = "sreplat"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.kubernetes_namespace))
    error_message = "kubernetes_namespace must be a Kubernetes namespace name."
  }
}
