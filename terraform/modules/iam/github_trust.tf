# The trust rules of the GitHub federation, with no provider in them: tests copy this file and
# variables.tf into a scratch root module and let the real terraform evaluate these locals, so the
# condition and the mapping they check are byte for byte what main.tf sends to Google.
#
# GitHub's OIDC token (docs.github.com, "About security hardening with OpenID Connect") carries
# repository_id and repository_owner_id: numbers (as strings) that never change, while the
# repository and owner names can be renamed and then taken by someone else. `sub` depends on
# the job (repo:<o>/<r>:environment:<env> for a job with an environment, ...:ref:<ref> or
# ...:pull_request otherwise), so the condition reads the claims themselves:
#   - the repository and its owner, by id;
#   - the GitHub environment of the job, one of github_environments (by default the sreplat
#     environment's own name); `environment` exists only for jobs that declare one;
#   - the git ref (refs/heads/main): a manual run from another branch is refused;
#   - the event: push and workflow_dispatch only, so pull_request_target (the base repository's
#     context on a fork's pull request) can never deploy.
# Google STS (cloud.google.com/iam/docs/workload-identity-federation, attribute conditions)
# evaluates the mapping first, then the condition, both CEL; a false condition rejects the token.
locals {
  github_enabled      = var.github_repository != null
  github_environments = var.github_environments
  github_attribute_mapping = {
    "google.subject"                = "assertion.sub"
    "attribute.repository"          = "assertion.repository"
    "attribute.repository_id"       = "assertion.repository_id"
    "attribute.repository_owner_id" = "assertion.repository_owner_id"
    "attribute.ref"                 = "assertion.ref"
    "attribute.environment"         = "has(assertion.environment) ? assertion.environment : ''"
    "attribute.actor"               = "assertion.actor"
  }
  github_attribute_condition = local.github_enabled ? join(" && ", [
    "assertion.repository_id == '${var.github_repository_id}'",
    "assertion.repository_owner_id == '${var.github_repository_owner_id}'",
    "has(assertion.environment) && assertion.environment in [${join(", ", formatlist("'%s'", local.github_environments))}]",
    "assertion.ref in [${join(", ", formatlist("'%s'", var.github_refs))}]",
    "assertion.event_name in [${join(", ", formatlist("'%s'", var.github_events))}]",
  ]) : null

  # Workload identity pools are soft-deleted for 30 days and their id cannot be reused meanwhile
  # (cloud.google.com/iam/docs/manage-workload-identity-pools-providers: deleted pools can be
  # undeleted within 30 days). A random suffix drawn at first apply and kept in this stack's state gives
  # a bootstrap after a destroy a fresh id; re-applies keep it.
  github_pool_id = local.github_enabled ? "${var.name_prefix}-gh-${terraform_data.github_pool_suffix[0].output}" : null
}

resource "terraform_data" "github_pool_suffix" {
  count = local.github_enabled ? 1 : 0

  # Six random hex digits drawn at the first plan; ignored afterwards, so the id stays put.
  input = substr(replace(uuid(), "-", ""), 0, 6)

  lifecycle {
    ignore_changes = [input]
  }
}
