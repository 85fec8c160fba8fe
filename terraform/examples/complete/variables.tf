variable "project_id" {
  type        = string
  description = "Project to build the example in."
  default     = "acme-sre-dev"
}

variable "region" {
  type        = string
  description = "Region of the example."
  default     = "asia-south1"
}
