output "repository_id" {
  description = "ID of the repository."
  value       = google_artifact_registry_repository.this.repository_id
}

output "repository_name" {
  description = "Full resource name (projects/<p>/locations/<region>/repositories/<id>), for IAM bindings."
  value       = google_artifact_registry_repository.this.id
}

output "repository_url" {
  description = "Image prefix: <region>-docker.pkg.dev/<project>/<repository> (append /api:<sha>)."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.this.repository_id}"
}
