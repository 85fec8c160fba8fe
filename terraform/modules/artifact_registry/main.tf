locals {
  day = 86400
}

resource "google_artifact_registry_repository" "this" {
  project       = var.project_id
  location      = var.region
  repository_id = var.repository_id
  description   = "sreplat container images, tagged with the full git SHA."
  format        = "DOCKER"
  kms_key_name  = var.kms_key_name
  labels        = var.labels

  # A SHA tag always means the same image: deploys and rollbacks are reproducible.
  docker_config {
    immutable_tags = true
  }

  cleanup_policy_dry_run = false

  # KEEP wins over DELETE. Every image a recorded release uses (rollback targets) carries a
  # "<release_tag_prefix><sha>" tag, added by sreplat when it records the release: kept whatever
  # its age or how many builds came after it.
  cleanup_policies {
    id     = "keep-released"
    action = "KEEP"

    condition {
      tag_state    = "TAGGED"
      tag_prefixes = [var.release_tag_prefix]
    }
  }

  # The newest versions survive whatever their age.
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"

    most_recent_versions {
      keep_count = var.keep_recent_versions
    }
  }

  cleanup_policies {
    id     = "delete-untagged"
    action = "DELETE"

    condition {
      tag_state  = "UNTAGGED"
      older_than = "${var.untagged_max_age_days * local.day}s"
    }
  }

  cleanup_policies {
    id     = "delete-old-tagged"
    action = "DELETE"

    condition {
      tag_state  = "TAGGED"
      older_than = "${var.tagged_max_age_days * local.day}s"
    }
  }
}
