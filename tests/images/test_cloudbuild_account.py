"""Issue 12 item 6: the Cloud Build fallback runs as the environment's own build service account.

The Cloud Build double follows the documented rules (cloud.google.com/build/docs/securing-builds/
configure-user-specified-service-accounts): the build's ``serviceAccount`` is
``projects/<project>/serviceAccounts/<email>``, and a build that names one must keep its logs out
of the default logs bucket. Here the project behaves like one in a secure-by-default organisation:
only the build account (the foundation stack's, output ``build_service_account_email``) may read
the source bucket and push; the default build account may not.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from sreplat.errors import OperationFailed
from sreplat.tools.images.pipeline import build_and_push
from tests.doubles.cloudbuild import CloudBuildDouble
from tests.doubles.gcs import StorageDouble
from tests.images.conftest import PROJECT, SOURCE_BUCKET, AppsRepo, make_cloudbuild_builder

BUILD_ACCOUNT = f"sreplat-dev-build@{PROJECT}.iam.gserviceaccount.com"


@pytest.fixture
def secure_by_default(cloudbuild_double: CloudBuildDouble) -> CloudBuildDouble:
    cloudbuild_double.able_accounts = {BUILD_ACCOUNT}
    return cloudbuild_double


def build(apps_repo: AppsRepo, prefix: str, tmp_path: Path, builder: object) -> None:
    build_and_push(
        sha=apps_repo.sha,
        registry_prefix=prefix,
        builder=builder,  # type: ignore[arg-type]
        repo=apps_repo.path,
        apps=("api",),
    )


def test_the_default_build_account_cannot_build_here(
    apps_repo: AppsRepo,
    prefix: str,
    tmp_path: Path,
    secure_by_default: CloudBuildDouble,
    storage_double: StorageDouble,
) -> None:
    """What happened before: no serviceAccount, so the default account, which may not read the sources."""
    builder = make_cloudbuild_builder(secure_by_default, storage_double)
    with pytest.raises(OperationFailed, match=r"does not have storage\.objects\.get access"):
        build(apps_repo, prefix, tmp_path, builder)


def test_builds_run_as_the_build_account_with_their_logs_in_cloud_logging(
    apps_repo: AppsRepo,
    prefix: str,
    tmp_path: Path,
    secure_by_default: CloudBuildDouble,
    storage_double: StorageDouble,
) -> None:
    builder = make_cloudbuild_builder(secure_by_default, storage_double, service_account=BUILD_ACCOUNT)
    build(apps_repo, prefix, tmp_path, builder)
    [sent] = secure_by_default.builds.values()
    assert sent["serviceAccount"] == f"projects/{PROJECT}/serviceAccounts/{BUILD_ACCOUNT}"
    assert sent["options"]["logging"] in ("CLOUD_LOGGING_ONLY", 5)
    assert sent["status"] == "SUCCESS"


def test_the_double_refuses_an_account_with_the_default_logs_bucket(
    secure_by_default: CloudBuildDouble,
) -> None:
    """The documented rule the builder's CLOUD_LOGGING_ONLY satisfies, enforced by the double."""
    from google.api_core import exceptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.devtools import cloudbuild_v1 as cb

    client = cb.CloudBuildClient(
        credentials=AnonymousCredentials(),
        transport="rest",
        client_options={"api_endpoint": secure_by_default.url},
    )
    build = cb.Build(
        source=cb.Source(storage_source=cb.StorageSource(bucket=SOURCE_BUCKET, object_="source/x.tgz")),
        steps=[
            cb.BuildStep(
                name="gcr.io/cloud-builders/docker", args=["build", "-f", "Dockerfile", "-t", "x", "."]
            )
        ],
        images=["x"],
        timeout=datetime.timedelta(seconds=60),
        service_account=f"projects/{PROJECT}/serviceAccounts/{BUILD_ACCOUNT}",
    )
    with pytest.raises(exceptions.BadRequest, match="CLOUD_LOGGING_ONLY / NONE"):
        client.create_build(project_id=PROJECT, build=build)
