"""ensure_state_bucket against the Cloud Storage double."""

from __future__ import annotations

import dataclasses

import pytest

from sreplat.errors import ExitCode, UsageError
from sreplat.events import Event
from sreplat.tools.api_calls import AccessDenied, CallTimeout
from sreplat.tools.gcp.access import GcpAccess
from sreplat.tools.gcp.gcs_state import ensure_state_bucket
from tests.doubles.gcs import StorageDouble

BUCKET = "acme-sre-dev-tfstate"


def _settings(double: StorageDouble, name: str = BUCKET) -> tuple[bool, bool, str]:
    bucket = double.buckets[name]
    iam = bucket["iamConfiguration"]
    return (
        bucket["versioning"]["enabled"],
        iam["uniformBucketLevelAccess"]["enabled"],
        iam["publicAccessPrevention"],
    )


def test_creates_the_bucket_with_state_settings(gcp_access: GcpAccess, gcs_double: StorageDouble) -> None:
    events: list[Event] = []
    result = ensure_state_bucket(gcp_access, BUCKET, location="asia-south1", on_event=events.append)
    assert result.created and not result.changed and not result.warnings
    assert result.location == "ASIA-SOUTH1"
    assert _settings(gcs_double) == (True, True, "enforced")
    assert gcs_double.buckets[BUCKET]["labels"] == {"managed-by": "sreplat", "purpose": "terraform-state"}
    assert [e.kind for e in events] == ["gcs.bucket_created"]


def test_second_run_changes_nothing_and_says_so(gcp_access: GcpAccess, gcs_double: StorageDouble) -> None:
    ensure_state_bucket(gcp_access, BUCKET, location="asia-south1")
    gcs_double.reset_calls()
    events: list[Event] = []
    result = ensure_state_bucket(gcp_access, BUCKET, location="asia-south1", on_event=events.append)
    assert result.already_there
    assert [e.kind for e in events] == ["gcs.bucket_ok"]
    assert [r.method for r in gcs_double.calls()] == ["GET"]  # no write at all


def test_existing_bucket_with_weak_settings_is_brought_up_to_them(
    gcp_access: GcpAccess, gcs_double: StorageDouble
) -> None:
    gcs_double.add_bucket(BUCKET, versioning=False, uniform_access=True, public_access_prevention="inherited")
    events: list[Event] = []
    result = ensure_state_bucket(gcp_access, BUCKET, location="asia-south1", on_event=events.append)
    assert not result.created
    assert result.changed == ("versioning", "public_access_prevention")
    assert _settings(gcs_double) == (True, True, "enforced")
    assert len(gcs_double.calls("PATCH")) == 1
    assert events[-1].data["changed"] == ["versioning", "public_access_prevention"]


def test_existing_bucket_elsewhere_is_kept_and_reported(
    gcp_access: GcpAccess, gcs_double: StorageDouble
) -> None:
    gcs_double.add_bucket(
        BUCKET, location="EU", versioning=True, uniform_access=True, public_access_prevention="enforced"
    )
    result = ensure_state_bucket(gcp_access, BUCKET, location="asia-south1")
    assert result.location == "EU"
    assert result.warnings == (f"bucket gs://{BUCKET} is in EU, not ASIA-SOUTH1 (a location cannot change)",)


def test_bucket_of_another_project_is_a_clear_error(gcp_access: GcpAccess, gcs_double: StorageDouble) -> None:
    gcs_double.foreign_buckets.add(BUCKET)
    with pytest.raises(AccessDenied, match=r"exists but this account cannot read it") as info:
        ensure_state_bucket(gcp_access, BUCKET, location="asia-south1")
    assert "another state bucket name" in (info.value.hint or "")
    assert gcs_double.calls("POST") == []


def test_bucket_created_concurrently_is_adopted(gcp_access: GcpAccess, gcs_double: StorageDouble) -> None:
    # Between our read (404) and our insert, someone with our access creates it.
    def create_behind_our_back(_request: object) -> None:
        if BUCKET not in gcs_double.buckets:
            gcs_double.add_bucket(BUCKET, versioning=True)

    gcs_double.on_request(r"^/storage/v1/b$", create_behind_our_back, method="POST")
    result = ensure_state_bucket(gcp_access, BUCKET, location="asia-south1")
    assert not result.created
    assert result.changed == ("uniform_bucket_level_access", "public_access_prevention")
    assert _settings(gcs_double) == (True, True, "enforced")


def test_transient_errors_are_retried(gcp_access: GcpAccess, gcs_double: StorageDouble) -> None:
    gcs_double.inject(r"/storage/v1/b", status=503, times=2)
    result = ensure_state_bucket(gcp_access, BUCKET, location="asia-south1", timeout=20)
    assert result.created
    assert len(gcs_double.calls("GET")) == 3


def test_a_hanging_api_times_out(gcp_access: GcpAccess, gcs_double: StorageDouble) -> None:
    gcs_double.inject(r"/storage/v1/b/", hang=True)
    with pytest.raises(CallTimeout, match=rf"reading bucket gs://{BUCKET}: no answer within 0.5s") as info:
        ensure_state_bucket(gcp_access, BUCKET, location="asia-south1", timeout=0.5)
    assert info.value.exit_code == ExitCode.FAILED
    assert gcs_double.calls("POST") == []


def test_permission_denied_on_create_is_readable(gcp_access: GcpAccess, gcs_double: StorageDouble) -> None:
    other = dataclasses.replace(gcp_access, project="someone-elses")
    with pytest.raises(
        AccessDenied, match=r"creating bucket .*: permission denied: The caller does not have"
    ):
        ensure_state_bucket(other, BUCKET, location="asia-south1")
    assert BUCKET not in gcs_double.buckets


@pytest.mark.parametrize(
    ("name", "location"),
    [
        ("UPPER-case", "asia-south1"),
        ("ab", "asia-south1"),
        ("has.dots.in.it", "asia-south1"),
        ("goog-state", "asia-south1"),
        ("-leading-dash", "asia-south1"),
        ("fine-name", "asia south1"),
        ("fine-name", ""),
    ],
)
def test_bad_input_fails_before_any_call(
    gcp_access: GcpAccess, gcs_double: StorageDouble, name: str, location: str
) -> None:
    with pytest.raises(UsageError) as info:
        ensure_state_bucket(gcp_access, name, location=location)
    assert info.value.exit_code == ExitCode.USAGE
    assert gcs_double.calls() == []
