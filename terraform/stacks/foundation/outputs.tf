# The cluster stack reads these through terraform_remote_state; sreplat reads them with
# `terraform output -json`. Renaming one is a contract change (see README.md).

output "project_id" {
  description = "Project of the environment."
  value       = var.project_id
}

output "region" {
  description = "Region of the environment."
  value       = var.region
}

output "network_self_link" {
  description = "Self link of the VPC."
  value       = module.network.network_self_link
}

output "subnet_self_link" {
  description = "Self link of the nodes' subnet."
  value       = module.network.subnet_self_link
}

output "pods_range_name" {
  description = "Secondary range of the subnet for Pods."
  value       = module.network.pods_range_name
}

output "services_range_name" {
  description = "Secondary range of the subnet for Services."
  value       = module.network.services_range_name
}

output "registry_url" {
  description = "Image prefix <region>-docker.pkg.dev/<project>/<repository>; images are <registry_url>/api:<git-sha>."
  value       = module.registry.repository_url
}

output "registry_repository_id" {
  description = "ID of the Docker repository."
  value       = module.registry.repository_id
}

output "ingress_address" {
  description = "Global IPv4 address of the HTTPS load balancer."
  value       = module.ingress.address
}

output "ingress_address_name" {
  description = "Name of that address (the Ingress annotation kubernetes.io/ingress.global-static-ip-name)."
  value       = module.ingress.name
}

output "ssl_policy_name" {
  description = "TLS policy (TLS >= 1.2, MODERN) for the HTTPS proxy: the api chart's ingress.sslPolicy."
  value       = module.ingress.ssl_policy_name
}

output "security_policy_name" {
  description = "Cloud Armor policy for the API's backend (the api chart's backendConfig.securityPolicy); null when cloud_armor is off."
  value       = module.ingress.security_policy_name
}

output "api_hostname" {
  description = "Host name of the API (api.<domain>)."
  value       = module.dns.api_hostname
}

output "dns_zone_name" {
  description = "Cloud DNS managed zone."
  value       = module.dns.zone_name
}

output "dns_name_servers" {
  description = "Name servers to delegate the domain to."
  value       = module.dns.name_servers
}

output "dns_ds_record" {
  description = "DS record to give the registrar beside the name servers (DNSSEC)."
  value       = module.dns.ds_record
}

output "workload_service_accounts" {
  description = "Workload (api, worker) -> Google service account email for its Kubernetes service account annotation."
  value       = module.iam.workload_service_accounts
}

output "workload_identity_bindings" {
  description = "Which Kubernetes service account acts as which Google service account (bound by the cluster stack): the apps' and the observability pieces'."
  value       = merge(module.iam.workload_identity_bindings, module.observability_iam.workload_identity_bindings)
}

output "observability_service_accounts" {
  description = "Google service account emails of the platform chart's collector (roles/cloudtrace.agent) and Managed Prometheus frontend (roles/monitoring.viewer): collector.gcpServiceAccount and grafana.gmpFrontend.gcpServiceAccount."
  value       = module.observability_iam.service_accounts
}

output "google_apis_cidr" {
  description = "Where *.googleapis.com resolves inside the VPC (private.googleapis.com): the platform chart's googleApis.cidrs."
  value       = module.private_google_apis.cidr
}

output "node_service_account_email" {
  description = "Service account of the cluster's nodes."
  value       = module.iam.node_service_account_email
}

output "deployer_service_account_email" {
  description = "Service account CI deploys as."
  value       = module.iam.deployer_service_account_email
}

output "build_service_account_email" {
  description = "Service account Cloud Build runs as (the fallback image builder passes it as the build's serviceAccount)."
  value       = module.iam.build_service_account_email
}

output "state_objects" {
  description = "State bucket objects the CI deployer may read (stack prefixes) and write (release record, environment lock); null without state_bucket."
  value       = module.iam.state_objects
}

output "workload_identity_provider" {
  description = "GitHub OIDC provider for google-github-actions/auth (null without github_repository)."
  value       = module.iam.workload_identity_provider
}
