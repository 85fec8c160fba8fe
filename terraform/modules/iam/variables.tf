variable "project_id" {
  type        = string
  description = "ID of the Google Cloud project the identities live in."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project ID: 6-30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "name_prefix" {
  type        = string
  description = "Prefix of every service account ID (<prefix>-api, <prefix>-deployer...)."

  validation {
    condition     = can(regex("^[a-z][-a-z0-9]{1,19}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-21 lowercase letters, digits or hyphens, starting with a letter (service account IDs are at most 30 characters)."
  }
}

variable "kubernetes_namespace" {
  type        = string
  description = "Namespace of the workloads' Kubernetes service accounts."
  default     = "sreplat"
}

variable "workload_roles" {
  type        = map(list(string))
  description = "Workloads (their Kubernetes service account names) and the project roles each one's Google service account gets. Keep it minimal: the apps only export traces."
  default = {
    api    = ["roles/cloudtrace.agent"]
    worker = ["roles/cloudtrace.agent"]
  }

  validation {
    condition     = alltrue([for name, roles in var.workload_roles : can(regex("^[a-z][-a-z0-9]{0,7}$", name)) && alltrue([for r in roles : !contains(["roles/owner", "roles/editor", "roles/viewer"], r)])])
    error_message = "workload_roles keys must be short lowercase names (at most 8 characters), and basic roles (owner, editor, viewer) are refused."
  }
}

variable "node_roles" {
  type        = list(string)
  description = "Project roles of the nodes' service account (logs, metrics, what GKE itself needs)."
  default     = ["roles/container.defaultNodeServiceAccount"]

  validation {
    condition     = alltrue([for r in var.node_roles : !contains(["roles/owner", "roles/editor", "roles/viewer"], r)])
    error_message = "Basic roles (owner, editor, viewer) are refused."
  }
}

variable "artifact_registry_repository" {
  type = object({
    location = string
    name     = string
  })
  description = "The image repository: nodes get read access to it, the deployer write access. Only this repository, not the project."
}

variable "github_repository" {
  type        = string
  description = "GitHub repository (owner/name) whose Actions may deploy through Workload Identity Federation; null creates no federation."
  default     = null

  validation {
    condition     = var.github_repository == null || can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", coalesce(var.github_repository, "-")))
    error_message = "github_repository must look like owner/name."
  }
}

variable "github_refs" {
  type        = list(string)
  description = "Git refs whose workflows may act as the deployer (e.g. refs/heads/main)."
  default     = ["refs/heads/main"]

  validation {
    condition     = length(var.github_refs) > 0 && alltrue([for r in var.github_refs : startswith(r, "refs/") && !can(regex("['\"\\\\]", r))])
    error_message = "github_refs must list at least one full ref (refs/heads/main, refs/tags/...), without quotes."
  }
}

variable "deployer_roles" {
  type        = list(string)
  description = "Project roles of the CI deployer: enough to roll out releases in the cluster, nothing more."
  default     = ["roles/container.developer"]

  validation {
    condition     = alltrue([for r in var.deployer_roles : !contains(["roles/owner", "roles/editor", "roles/viewer"], r)])
    error_message = "Basic roles (owner, editor, viewer) are refused."
  }
}
