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

variable "github_repository_id" {
  type        = string
  description = "Numeric id of that repository (GitHub API: repos/<owner>/<name> .id). Pinned instead of the name, which can be renamed and re-registered by someone else. Required with github_repository."
  default     = null

  validation {
    condition     = var.github_repository_id == null ? var.github_repository == null : (var.github_repository != null && can(regex("^[1-9][0-9]{0,19}$", var.github_repository_id)))
    error_message = "github_repository_id must be the repository's numeric id (digits only), and is required exactly when github_repository is set."
  }
}

variable "github_repository_owner_id" {
  type        = string
  description = "Numeric id of the repository's owner (GitHub API: repos/<owner>/<name> .owner.id). Required with github_repository."
  default     = null

  validation {
    condition     = var.github_repository_owner_id == null ? var.github_repository == null : (var.github_repository != null && can(regex("^[1-9][0-9]{0,19}$", var.github_repository_owner_id)))
    error_message = "github_repository_owner_id must be the owner's numeric id (digits only), and is required exactly when github_repository is set."
  }
}

variable "github_environments" {
  type        = list(string)
  description = "GitHub environments whose jobs may act as the deployer (the job's `environment:`). Jobs without an environment are refused."
  default     = []

  validation {
    condition     = (var.github_repository == null || length(var.github_environments) > 0) && alltrue([for e in var.github_environments : can(regex("^[A-Za-z0-9_.-]{1,255}$", e))])
    error_message = "github_environments must name at least one GitHub environment when github_repository is set; names use letters, digits, '.', '_' and '-'."
  }
}

variable "github_refs" {
  type        = list(string)
  description = "Git refs whose workflows may act as the deployer (e.g. refs/heads/main)."
  default     = ["refs/heads/main"]

  validation {
    condition     = length(var.github_refs) > 0 && alltrue([for r in var.github_refs : startswith(r, "refs/") && !can(regex("['\"\\\\\\s]", r))])
    error_message = "github_refs must list at least one full ref (refs/heads/main, refs/tags/...), without quotes."
  }
}

variable "github_events" {
  type        = list(string)
  description = "Workflow events that may deploy (the token's event_name). pull_request and pull_request_target are refused whatever this says."
  default     = ["push", "workflow_dispatch"]

  validation {
    condition     = length(var.github_events) > 0 && alltrue([for e in var.github_events : can(regex("^[a-z_]+$", e)) && !startswith(e, "pull_request")])
    error_message = "github_events must list event names such as push or workflow_dispatch; pull_request events are never allowed to deploy."
  }
}

variable "state_bucket" {
  type = object({
    name   = string
    prefix = string
  })
  description = "The Terraform state bucket (made by sreplat, uniform access) and this environment's prefix in it: the deployer may read the stacks' states and write the release record and the lock, the build account may read build contexts under source/. Null: no grants on the bucket."
  default     = null

  validation {
    condition     = var.state_bucket == null || (can(regex("^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$", var.state_bucket.name)) && can(regex("^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", var.state_bucket.prefix)))
    error_message = "state_bucket needs a bucket name and a relative prefix without leading or trailing slashes or quotes (e.g. sreplat/prod)."
  }
}

variable "deployer_roles" {
  type        = list(string)
  description = "Project roles of the CI deployer: roles/container.clusterViewer finds the cluster and passes the DNS endpoint's IAM check (container.clusters.connect); what it may do inside is the Kubernetes Role of the platform chart (namespace sreplat only)."
  default     = ["roles/container.clusterViewer"]

  validation {
    condition     = alltrue([for r in var.deployer_roles : !contains(["roles/owner", "roles/editor", "roles/viewer"], r)])
    error_message = "Basic roles (owner, editor, viewer) are refused."
  }
}
