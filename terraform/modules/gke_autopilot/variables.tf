variable "project_id" {
  type        = string
  description = "ID of the Google Cloud project that owns the cluster."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project ID: 6-30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "Region of the (regional) Autopilot cluster; must be the subnet's region."

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as asia-south1 (Autopilot clusters are regional)."
  }
}

variable "name" {
  type        = string
  description = "Name of the cluster."

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$", var.name))
    error_message = "name must be 1-40 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "network" {
  type        = string
  description = "Self link or ID of the VPC the cluster joins."
}

variable "subnetwork" {
  type        = string
  description = "Self link or ID of the subnet for nodes; it must carry the Pods and Services secondary ranges."
}

variable "pods_range_name" {
  type        = string
  description = "Name of the subnet's secondary range for Pods."
}

variable "services_range_name" {
  type        = string
  description = "Name of the subnet's secondary range for Services."
}

variable "master_ipv4_cidr_block" {
  type        = string
  description = "/28 range for a VPC-peering control plane; null (the default) lets GKE use a Private Service Connect control plane, which needs no range."
  default     = null

  validation {
    condition     = var.master_ipv4_cidr_block == null || (can(cidrhost(var.master_ipv4_cidr_block, 0)) && endswith(coalesce(var.master_ipv4_cidr_block, "-"), "/28"))
    error_message = "master_ipv4_cidr_block must be null or an IPv4 /28 block."
  }
}

variable "master_authorized_networks" {
  type = list(object({
    cidr_block   = string
    display_name = string
  }))
  description = "Networks allowed to reach the control plane's IP-based public endpoint. Empty: none from outside the VPC (the DNS-based endpoint, IAM-gated, is the way in)."
  default     = []

  validation {
    condition     = alltrue([for n in var.master_authorized_networks : can(cidrhost(n.cidr_block, 0)) && n.cidr_block != "0.0.0.0/0"])
    error_message = "Every master_authorized_networks cidr_block must be an IPv4 CIDR block, and 0.0.0.0/0 (the whole internet) is refused."
  }
}

variable "enable_private_endpoint" {
  type        = bool
  description = "Disable the control plane's public endpoint entirely (kubectl then works only from inside the VPC)."
  default     = false
}

variable "release_channel" {
  type        = string
  description = "GKE release channel; Autopilot clusters are always enrolled in one."
  default     = "REGULAR"

  validation {
    condition     = contains(["RAPID", "REGULAR", "STABLE", "EXTENDED"], var.release_channel)
    error_message = "release_channel must be RAPID, REGULAR, STABLE or EXTENDED."
  }
}

variable "maintenance_window" {
  type = object({
    start_time = string
    end_time   = string
    recurrence = string
  })
  description = "Recurring maintenance window (RFC 3339 times of a first occurrence, and an RFC 5545 RRULE). GKE needs at least 48 hours of windows in any 32 days."
  default = {
    start_time = "2025-01-04T02:00:00Z"
    end_time   = "2025-01-04T10:00:00Z"
    recurrence = "FREQ=WEEKLY;BYDAY=SA,SU"
  }

  validation {
    condition     = can(timecmp(var.maintenance_window.start_time, var.maintenance_window.end_time)) && timecmp(var.maintenance_window.start_time, var.maintenance_window.end_time) < 0
    error_message = "maintenance_window start_time and end_time must be RFC 3339 timestamps, start before end."
  }

  validation {
    condition     = startswith(var.maintenance_window.recurrence, "FREQ=")
    error_message = "maintenance_window.recurrence must be an RFC 5545 RRULE such as FREQ=WEEKLY;BYDAY=SA,SU."
  }
}

variable "node_service_account" {
  type        = string
  description = "Email of the least-privilege service account Autopilot nodes run as (instead of the Compute Engine default account)."

  validation {
    condition     = can(regex("@", var.node_service_account)) && !endswith(var.node_service_account, "-compute@developer.gserviceaccount.com")
    error_message = "node_service_account must be a service account email, and not the Compute Engine default service account."
  }
}

variable "workload_identity_bindings" {
  type = map(object({
    namespace              = string
    kubernetes_sa          = string
    google_service_account = string
  }))
  description = "Kubernetes service accounts allowed to act as Google service accounts through Workload Identity. google_service_account is the account's full ID (projects/<p>/serviceAccounts/<email>). Bound here, after the cluster exists, because the <project>.svc.id.goog pool only exists from then on."
  default     = {}
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse to destroy the cluster (set false, apply, then destroy, to remove it on purpose)."
  default     = true
}

variable "enable_binary_authorization" {
  type        = bool
  description = "Enforce the project's Binary Authorization policy on every image the cluster runs."
  default     = false
}

variable "database_encryption_key" {
  type        = string
  description = "Cloud KMS key (projects/<p>/locations/<region>/keyRings/<r>/cryptoKeys/<k>) for application-layer encryption of Kubernetes Secrets; null keeps Google-managed encryption only."
  default     = null

  validation {
    condition     = var.database_encryption_key == null || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.database_encryption_key))
    error_message = "database_encryption_key must be a full Cloud KMS key name: projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>."
  }
}

variable "labels" {
  type        = map(string)
  description = "Resource labels put on the cluster."
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && can(regex("^[a-z0-9_-]{0,63}$", v))])
    error_message = "Label keys must start with a lowercase letter; keys and values use lowercase letters, digits, _ and -, at most 63 characters."
  }
}
