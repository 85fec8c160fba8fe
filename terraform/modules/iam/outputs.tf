output "workload_service_accounts" {
  description = "Workload name -> email of its Google service account (the iam.gke.io/gcp-service-account annotation of its Kubernetes service account)."
  value       = { for name, sa in google_service_account.workload : name => sa.email }
}

output "workload_identity_bindings" {
  description = "Input for the gke_autopilot module's workload_identity_bindings: which Kubernetes service account may act as which Google service account."
  value = {
    for name, sa in google_service_account.workload : name => {
      namespace              = var.kubernetes_namespace
      kubernetes_sa          = name
      google_service_account = sa.name
    }
  }
}

output "node_service_account_email" {
  description = "Email of the nodes' service account."
  value       = google_service_account.node.email
}

output "deployer_service_account_email" {
  description = "Email of the CI deployer's service account (service_account of google-github-actions/auth)."
  value       = google_service_account.deployer.email
}

output "build_service_account_email" {
  description = "Email of the Cloud Build service account (a build's serviceAccount: projects/<p>/serviceAccounts/<email>)."
  value       = google_service_account.build.email
}

output "state_objects" {
  description = "Object names in the state bucket the deployer may read (stacks: prefixes) and write (release, lock); null without state_bucket."
  value       = local.state_objects
}

output "workload_identity_provider" {
  description = "Full name of the GitHub OIDC provider (workload_identity_provider of google-github-actions/auth); null without github_repository."
  value       = one(google_iam_workload_identity_pool_provider.github[*].name)
}
