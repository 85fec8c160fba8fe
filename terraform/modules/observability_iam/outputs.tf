output "service_accounts" {
  description = "Emails of the Google service accounts: collector (roles/cloudtrace.agent) and gmp_frontend (roles/monitoring.viewer); the platform chart's collector.gcpServiceAccount and grafana.gmpFrontend.gcpServiceAccount."
  value       = { for name, sa in google_service_account.this : name => sa.email }
}

output "workload_identity_bindings" {
  description = "Input for the gke_autopilot module's workload_identity_bindings (same shape as the iam module's): which Kubernetes service account may act as which Google service account."
  value = {
    for name, identity in local.identities : identity.kubernetes_sa => {
      namespace              = var.kubernetes_namespace
      kubernetes_sa          = identity.kubernetes_sa
      google_service_account = google_service_account.this[name].name
    }
  }
}
