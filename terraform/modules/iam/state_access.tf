# Who may touch which objects of the Terraform state bucket: IAM Conditions on the bucket (it has
# uniform bucket-level access, which conditions need). No provider in this file: tests evaluate
# these expressions with CEL against object names, as Cloud Storage does.
#
# Cloud Storage names an object, for conditions, "projects/_/buckets/<bucket>/objects/<object>"
# (cloud.google.com/iam/docs/conditions-resource-attributes, resource name; the storage docs'
# "Use IAM Conditions on buckets"). Reads and writes of one object are checked against that name;
# listing is checked against the bucket and is granted to nobody here.
locals {
  state_objects = var.state_bucket == null ? null : {
    # The stacks' states (read-only for CI: only a person's bootstrap or destroy writes them).
    stacks = [for stack in ["foundation", "cluster"] : "${var.state_bucket.prefix}/${stack}/"]
    # What a CI deploy writes: the release record and the environment lock.
    release = "${var.state_bucket.prefix}/release.json"
    lock    = "${var.state_bucket.prefix}/lock.json"
    # Build contexts the Cloud Build fallback uploads (tools/cloudbuild.py: source/...).
    sources = "source/"
  }
  state_object_base = var.state_bucket == null ? null : "projects/_/buckets/${var.state_bucket.name}/objects/"

  state_conditions = var.state_bucket == null ? {} : {
    deployer_reads_states = join(" || ", [
      for prefix in local.state_objects.stacks : "resource.name.startsWith('${local.state_object_base}${prefix}')"
    ])
    deployer_writes_release = join(" || ", [
      for name in [local.state_objects.release, local.state_objects.lock] : "resource.name == '${local.state_object_base}${name}'"
    ])
    build_reads_sources = "resource.name.startsWith('${local.state_object_base}${local.state_objects.sources}')"
  }
}
