# The observability pieces' own identities, each with exactly one role and no key: the
# OpenTelemetry Collector writes spans to Cloud Trace, the Managed Service for Prometheus query
# frontend (Grafana's data source) reads metrics. Both are used only through Workload Identity,
# from their Kubernetes service accounts in the platform chart (otel-collector, gmp-frontend).

locals {
  identities = {
    collector = {
      account_id     = "${var.name_prefix}-otel"
      kubernetes_sa  = "otel-collector"
      role           = "roles/cloudtrace.agent"
      display_name   = "sreplat OpenTelemetry Collector"
      what_it_is_for = "Exports the apps' spans to Cloud Trace"
    }
    gmp_frontend = {
      account_id     = "${var.name_prefix}-gmp"
      kubernetes_sa  = "gmp-frontend"
      role           = "roles/monitoring.viewer"
      display_name   = "sreplat Managed Prometheus frontend"
      what_it_is_for = "Answers Grafana's PromQL queries from Cloud Monitoring"
    }
  }
}

resource "google_service_account" "this" {
  for_each = local.identities

  project      = var.project_id
  account_id   = each.value.account_id
  display_name = each.value.display_name
  description  = "${each.value.what_it_is_for}; acts for ${var.kubernetes_namespace}/${each.value.kubernetes_sa} through Workload Identity."
}

resource "google_project_iam_member" "this" {
  for_each = local.identities

  project = var.project_id
  role    = each.value.role
  member  = google_service_account.this[each.key].member
}
