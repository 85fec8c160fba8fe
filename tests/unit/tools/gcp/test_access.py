"""Credentials, endpoint overrides and error translation shared by the GCP adapters."""

from __future__ import annotations

import dataclasses
import socket

import pytest

from sreplat.errors import ExitCode, OperationFailed, UsageError
from sreplat.tools.api_calls import AccessDenied, Deadline
from sreplat.tools.gcp.access import (
    CREDENTIALS_HINT,
    GcpAccess,
    GcpEndpoints,
    access_token,
    default_credentials,
)
from sreplat.tools.gcp.gcs_state import ensure_state_bucket
from tests.doubles.fixtures import GCP_TOKEN, PROJECT
from tests.doubles.gcs import StorageDouble


def test_endpoint_overrides_become_client_options() -> None:
    endpoints = GcpEndpoints(storage="http://127.0.0.1:9000")
    assert endpoints.options("storage") == {"api_endpoint": "http://127.0.0.1:9000"}
    assert endpoints.options("container") is None


@pytest.mark.parametrize("bad", ["127.0.0.1:53", "http://127.0.0.1:53/dns/v1", "ftp://x", ""])
def test_an_endpoint_must_be_a_base_url(bad: str) -> None:
    with pytest.raises(ValueError, match=r"the dns endpoint .* is not a base URL"):
        GcpEndpoints(dns=bad)


@pytest.mark.parametrize("project", ["Acme", "short", "1acme-dev", "acme-dev-", "a" * 31, "acme_dev"])
def test_invalid_project_ids_are_refused(project: str) -> None:
    with pytest.raises(UsageError, match="invalid GCP project id") as info:
        GcpAccess(project=project)
    assert info.value.exit_code == ExitCode.USAGE


def test_token_from_the_environment_is_used_without_adc() -> None:
    credentials = default_credentials({"GOOGLE_OAUTH_ACCESS_TOKEN": "ya29.from-env"})
    assert access_token(credentials, Deadline(1)) == "ya29.from-env"


def test_no_credentials_at_all_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud ADC file
    from google.auth.compute_engine import _metadata

    # Not on GCE: google-auth reads NO_GCE_CHECK at import, so set what it would have set.
    monkeypatch.setattr(_metadata, "_NO_GCE_CHECK", True)
    with pytest.raises(AccessDenied, match="no Google Cloud credentials found") as info:
        default_credentials({})
    assert info.value.hint == CREDENTIALS_HINT


def test_rejected_token_is_access_denied_with_a_hint(
    gcp_access: GcpAccess, gcs_double: StorageDouble
) -> None:
    from google.oauth2.credentials import Credentials

    wrong = dataclasses.replace(gcp_access, credentials=Credentials(token="ya29.expired"))
    with pytest.raises(AccessDenied, match="the Google credentials cannot be used") as info:
        ensure_state_bucket(wrong, "acme-tfstate", location="asia-south1")
    assert info.value.hint == CREDENTIALS_HINT
    assert gcs_double.calls()  # the request was made and refused by the server


def test_unreachable_endpoint_gives_up_within_the_timeout(gcp_access: GcpAccess) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    access = dataclasses.replace(gcp_access, endpoints=GcpEndpoints(storage=closed))
    with pytest.raises(OperationFailed, match="reading bucket gs://acme-tfstate: cannot reach the API"):
        ensure_state_bucket(access, "acme-tfstate", location="asia-south1", timeout=0.5)


def test_token_credentials_are_not_shown_in_repr() -> None:
    from google.oauth2.credentials import Credentials

    access = GcpAccess(project=PROJECT, credentials=Credentials(token=GCP_TOKEN))
    assert GCP_TOKEN not in repr(access)


def test_adapters_import_no_heavy_library() -> None:
    """`sreplat --help` must stay fast: the GCP and Kubernetes clients load only when called."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import sreplat.tools.gcp.gcs_state, sreplat.tools.gcp.gke, sreplat.tools.kube.workloads\n"
        "import sreplat.tools.gcp.cloud_dns, sreplat.tools.gcp.lb_cleanup\n"
        "heavy = ('google', 'kubernetes', 'dns', 'requests', 'urllib3', 'helm_python')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
