"""The gcp verbs when something is missing: no credentials, Google Cloud out of reach, a bucket
that refuses, an environment never bootstrapped. One cause is said once (with its hint), the
rest says what it skipped; ``plan`` still shows the whole DAG and touches nothing; bad input is
still exit 2.

No credentials here means what a fresh machine has: no ``GOOGLE_OAUTH_ACCESS_TOKEN``, no
``GOOGLE_APPLICATION_CREDENTIALS``, no gcloud configuration, not on GCE. The doubles keep
running, so "no call was made" is checked, not assumed.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from sreplat.tools.gcp.access import CREDENTIALS_HINT
from tests.unit.targets.gcp.world import BUCKET, ENDPOINTS, ENV, STEPS, Run, World

pytestmark = pytest.mark.helm  # plan renders the charts (offline when the cloud cannot be asked)

STATUS_CHECKS = ["state", "cluster", "dns", "registry", "releases", "workloads", "endpoint", "queue", "slo"]
NO_CREDENTIALS = "no Google Cloud credentials found"
NETWORK_HINT = "check the network and any proxy settings"


@pytest.fixture
def no_credentials(world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> World:
    from google.auth.compute_engine import _metadata

    monkeypatch.delenv("GOOGLE_OAUTH_ACCESS_TOKEN", raising=False)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))
    # Not on GCE: google-auth reads NO_GCE_CHECK at import, so set what it would have set.
    monkeypatch.setattr(_metadata, "_NO_GCE_CHECK", True)
    return world


@pytest.fixture
def unreachable(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """Credentials, but every Google API endpoint refuses connections (a closed loopback port)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    world.rewire(**dict.fromkeys(ENDPOINTS, f"http://127.0.0.1:{port}"))
    yield world


def text(world: World, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """The CLI in this process with its text output (exit code, stdout, stderr)."""
    from sreplat.cli.main import main

    capsys.readouterr()
    code = main(["--env", ENV, *argv], seams=world.seams)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def nothing_touched(world: World) -> None:
    assert world.calls() == []
    assert not world.state_dir.exists()
    assert world.gcs.buckets == {}


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` with its size and modification time (ns)."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


# --- plan and --dry-run ----------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["plan"], ["bootstrap", "--dry-run"]], ids=["plan", "dry-run"])
def test_plan_without_credentials_shows_the_whole_dag_and_says_why_once(
    no_credentials: World, argv: list[str]
) -> None:
    run = no_credentials.cli(*argv)

    assert run.code == 0, run.err[-3000:]
    steps = {line["step"]: line for line in run.events("plan.step")}
    assert list(steps) == STEPS
    assert all(step["description"] for step in steps.values())
    # What runs concurrently: the cluster stack and the image build side by side, api with worker.
    assert steps["images"]["alongside"] == ["cluster", "redis-image", "namespace", "platform", "redis"]
    assert steps["cluster"]["alongside"] == ["images", "redis-image"]
    assert steps["redis-image"]["alongside"] == ["cluster", "images", "namespace", "platform"]
    assert steps["api"]["alongside"] == ["worker"]
    assert steps["foundation"]["alongside"] == [] and steps["record"]["alongside"] == []
    result = run.result
    assert result["terraform"] == {
        "foundation": "unavailable: no credentials",
        "cluster": "unavailable: no credentials",
    }
    assert set(result["helm"]) == {"platform", "redis", "api", "worker"}
    for release, said in result["helm"].items():
        objects, _, rest = said.partition(" objects rendered; ")
        assert int(objects) > 0, (release, said)  # rendered offline all the same
        assert rest == "diff unavailable: no credentials", (release, said)
    assert result["unavailable"] == NO_CREDENTIALS
    assert result["hint"] == CREDENTIALS_HINT
    assert run.events("error") == []
    nothing_touched(no_credentials)


def test_plan_without_credentials_as_text_names_the_cause_once(
    no_credentials: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "120")  # the table's width, whatever runs the suite
    code, out, err = text(no_credentials, capsys, "plan")

    assert code == 0, err
    assert "nothing will be changed" in out
    assert out.count(NO_CREDENTIALS) == 1
    assert out.count(CREDENTIALS_HINT) == 1
    assert "runs alongside" in out
    rows = {line.split()[1]: line for line in out.splitlines() if line[:1].isdigit()}
    assert list(rows) == STEPS
    assert "cluster, redis-image, namespace," in rows["images"]  # the cell wraps after this
    # Nested facts are one line per entry, not a JSON blob.
    assert "    foundation  unavailable: no credentials" in out.splitlines()
    assert "{" not in out
    assert err == ""
    nothing_touched(no_credentials)


def test_plan_of_deploy_and_destroy_without_credentials(no_credentials: World) -> None:
    sha = no_credentials.head()

    deploy = no_credentials.cli("plan", "deploy", "--sha", sha)
    destroy = no_credentials.cli("plan", "destroy")
    dry_destroy = no_credentials.cli("destroy", "--dry-run")

    assert deploy.code == destroy.code == dry_destroy.code == 0, deploy.err + destroy.err
    assert [line["step"] for line in deploy.events("plan.step")] == [
        "current",
        "images",
        "upgrade",
        "smoke",
        "record",
    ]
    assert deploy.result["sha"] == sha
    assert deploy.result["images"] == {
        "api": "unavailable: no credentials",
        "worker": "unavailable: no credentials",
    }
    assert deploy.result["helm"]["api"].endswith("objects rendered; diff unavailable: no credentials")
    assert destroy.result["removes"] == {
        "cluster": "unavailable: no credentials",
        "foundation": "unavailable: no credentials",
        "releases": "unavailable: no credentials",
        "kept": f"gs://{BUCKET} (versioned; may hold other environments' state)",
    }
    # One pipeline runs one step at a time: nothing alongside anything.
    assert {tuple(line["alongside"]) for line in destroy.events("plan.step")} == {()}
    for run in (deploy, destroy, dry_destroy):
        assert run.result["unavailable"] == NO_CREDENTIALS
        assert run.result["hint"] == CREDENTIALS_HINT
    nothing_touched(no_credentials)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (("plan", "--set", "region=mars"), "region = 'mars'"),
        (("bootstrap", "--dry-run", "--set", "project=Acme_Dev"), "project = 'Acme_Dev'"),
        (("plan", "deploy", "--sha", "xyz"), "invalid SHA 'xyz'"),
        (("plan", "deploy"), "plan deploy needs --sha SHA"),
        (("status", "--set", "domain=dev_acme.example"), "domain = 'dev_acme.example'"),
    ],
)
def test_bad_input_without_credentials_is_still_exit_2(
    no_credentials: World, argv: tuple[str, ...], words: str
) -> None:
    run = no_credentials.cli(*argv)

    assert run.code == 2, run.err[-2000:]
    assert words in run.error["message"]
    nothing_touched(no_credentials)


# --- status and doctor -------------------------------------------------------------------------------


def assert_said_once(run: Run, cause: str, *, hint: str, skipped: str) -> None:
    checks = run.checks()
    assert list(checks) == STATUS_CHECKS
    assert (checks["state"]["verdict"], checks["state"]["summary"]) == ("unknown", cause)
    assert checks["state"]["hint"] == hint
    for name in STATUS_CHECKS[1:]:
        assert (checks[name]["verdict"], checks[name]["summary"]) == ("unknown", skipped), name
        assert "hint" not in checks[name], name
    assert run.result["verdict"] == "unknown" and run.result["healthy"] is False


def test_status_without_credentials_says_so_once(
    no_credentials: World, capsys: pytest.CaptureFixture[str]
) -> None:
    run = no_credentials.cli("status")

    assert run.code == 3  # not known to be healthy, as when a check times out
    assert_said_once(run, NO_CREDENTIALS, hint=CREDENTIALS_HINT, skipped="skipped: no credentials")

    code, out, _ = text(no_credentials, capsys, "status")

    assert code == 3
    assert out.splitlines()[0] == f"{ENV} (gcp): UNKNOWN"
    assert out.count(NO_CREDENTIALS) == 1
    assert out.count(CREDENTIALS_HINT) == 1
    assert out.count("skipped: no credentials") == len(STATUS_CHECKS) - 1
    nothing_touched(no_credentials)


def test_status_drift_without_credentials_runs_no_terraform(no_credentials: World) -> None:
    run = no_credentials.cli("status", "--drift")

    assert run.code == 3
    drift = run.checks()["drift"]
    assert (drift["verdict"], drift["summary"]) == ("unknown", "skipped: no credentials")
    nothing_touched(no_credentials)  # a terraform init would have created the state dir


def test_doctor_without_credentials_names_the_missing_prerequisite(
    no_credentials: World, capsys: pytest.CaptureFixture[str]
) -> None:
    run = no_credentials.cli("doctor")

    assert run.code == 1
    checks = run.checks()
    assert (checks["credentials"]["verdict"], checks["credentials"]["summary"]) == (
        "unhealthy",
        NO_CREDENTIALS,
    )
    assert checks["credentials"]["hint"] == CREDENTIALS_HINT
    assert (checks["state bucket"]["verdict"], checks["state bucket"]["summary"]) == (
        "unknown",
        "skipped: no credentials",
    )
    assert "hint" not in checks["state bucket"]
    assert checks["layout"]["verdict"] == "healthy"
    assert run.result["verdict"] == "unhealthy"  # the credentials row is, so the header is

    code, out, _ = text(no_credentials, capsys, "doctor")

    assert code == 1
    assert out.splitlines()[0] == f"{ENV} (gcp): UNHEALTHY"
    assert out.count(NO_CREDENTIALS) == 1 and out.count(CREDENTIALS_HINT) == 1
    nothing_touched(no_credentials)


def test_doctor_header_says_unknown_when_no_row_is_unhealthy(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.gcs.inject(r"/o/", status=403)  # the account may not read the bucket's objects

    run = world.cli("doctor")

    assert run.code == 1  # a required check did not pass
    verdicts = {name: check["verdict"] for name, check in run.checks().items()}
    assert verdicts["state bucket"] == "unknown"
    assert "unhealthy" not in verdicts.values()
    assert run.result["verdict"] == "unknown"
    code, out, _ = text(world, capsys, "doctor")
    assert code == 1 and out.splitlines()[0] == f"{ENV} (gcp): UNKNOWN"


def test_doctor_without_terraform_says_it_is_missing(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    run = world.cli("doctor")

    assert run.code == 1
    terraform = run.checks()["terraform"]
    assert (terraform["verdict"], terraform["summary"]) == ("unhealthy", "terraform not found on PATH")
    assert terraform["hint"]
    assert run.result["verdict"] == "unhealthy"


def test_status_when_the_bucket_refuses_skips_only_what_needs_it(world: World) -> None:
    world.gcs.inject(r"/o/", status=403)

    run = world.cli("status")

    assert run.code == 3
    checks = run.checks()
    assert checks["state"]["verdict"] == "unknown"
    assert "permission denied" in checks["state"]["summary"]
    for name in ("dns", "registry", "endpoint"):
        assert checks[name]["summary"] == "skipped: the Terraform state could not be read", name
    # The others may still tell something on their own: the cluster check asked the Container API.
    assert checks["cluster"]["summary"] == "cluster sreplat-dev does not exist"
    assert any(name == "container-double" for name, _ in world.calls())


# --- verbs that change things ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv", [("bootstrap",), ("deploy", "--sha", "{head}"), ("destroy", "--yes")], ids=lambda a: a[0]
)
def test_verbs_that_change_things_stop_before_anything_without_credentials(
    no_credentials: World, argv: tuple[str, ...]
) -> None:
    run = no_credentials.cli(*(a.format(head=no_credentials.head()) for a in argv))

    assert run.code == 1
    assert (run.error["message"], run.error["hint"]) == (NO_CREDENTIALS, CREDENTIALS_HINT)
    assert run.events("step.start") == []
    nothing_touched(no_credentials)  # no lock, no run log, no state dir, no bucket


# --- Google Cloud out of reach ---------------------------------------------------------------------


@pytest.mark.slow  # each verb waits out one short deadline for the connection retries
def test_google_cloud_out_of_reach_is_said_once(unreachable: World) -> None:
    status = unreachable.cli("status")

    assert status.code == 3
    checks = status.checks()
    state = checks["state"]
    assert state["verdict"] == "unknown"
    assert state["summary"].endswith("default.tfstate: cannot reach the API")
    assert state["hint"] == NETWORK_HINT
    for name in STATUS_CHECKS[1:]:
        assert checks[name]["summary"] == "skipped: cannot reach Google Cloud", name

    plan = unreachable.cli("plan")

    assert plan.code == 0, plan.err[-2000:]
    assert [line["step"] for line in plan.events("plan.step")] == STEPS
    assert plan.result["terraform"]["foundation"] == "unavailable: cannot reach Google Cloud"
    assert plan.result["hint"] == NETWORK_HINT
    assert not unreachable.state_dir.exists()


# --- an environment never bootstrapped ---------------------------------------------------------------


def test_status_of_an_environment_never_bootstrapped_says_so_once(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    run = world.cli("status")

    assert run.code == 3
    checks = run.checks()
    state = checks["state"]
    assert (state["verdict"], state["summary"]) == (
        "unhealthy",
        f"not bootstrapped: no Terraform state at gs://{BUCKET}/sreplat/{ENV}/foundation",
    )
    assert state["hint"] == f"run `sreplat bootstrap --env {ENV}`"
    for name in STATUS_CHECKS[1:]:
        assert (checks[name]["verdict"], checks[name]["summary"]) == (
            "unknown",
            "skipped: not bootstrapped",
        ), name
    assert run.result["verdict"] == "unhealthy"
    # (PromQL queries are POSTed forms: reads.)
    assert [c for c in world.calls(writes_only=True) if c[0] != "monitoring-double"] == []

    code, out, _ = text(world, capsys, "status", "--drift")

    assert code == 3
    assert out.count("run `sreplat bootstrap --env dev`") == 1
    drift = next(line for line in out.splitlines() if line.startswith("drift "))
    assert drift.split() == ["drift", "unknown", "skipped:", "not", "bootstrapped"]
    assert not world.state_dir.exists()  # no terraform init for the drift check


@pytest.mark.terraform
def test_plan_before_bootstrap_takes_no_lock_and_creates_no_bucket(world: World) -> None:
    from sreplat.pipeline.lock import EnvironmentLock

    lock = EnvironmentLock(world.state_dir, ENV)
    lock.acquire("a bootstrap in another terminal")
    try:
        before = snapshot(world.state_dir)
        runs = [world.cli("plan"), world.cli("bootstrap", "--dry-run"), world.cli("plan", "destroy")]
        after = snapshot(world.state_dir)
    finally:
        lock.release()

    assert [r.code for r in runs] == [0, 0, 0], [r.err[-2000:] for r in runs]
    assert runs[0].result["terraform"]["foundation"].startswith("no state yet")
    assert after == before  # nothing written in the state dir, the lock file untouched
    assert world.calls(writes_only=True) == []
    assert world.gcs.buckets == {}


def test_plan_of_deploy_before_bootstrap_is_refused_like_deploy(world: World) -> None:
    run = world.cli("plan", "deploy", "--sha", world.head())

    assert run.code == 2
    assert f"environment {ENV!r} has no foundation stack yet" in run.error["message"]
    assert world.calls(writes_only=True) == []
    assert not world.state_dir.exists()


# --- partly there ------------------------------------------------------------------------------------


@pytest.mark.terraform
@pytest.mark.slow
def test_status_with_the_foundation_but_no_cluster_says_cluster_once(world: World) -> None:
    world.container.inject(r"/clusters$", method="POST", status=403, times=1)
    assert world.cli("bootstrap").code == 1  # stopped at the cluster stack

    run = world.cli("status")

    assert run.code == 3
    checks = run.checks()
    assert checks["state"]["verdict"] == "healthy"
    assert checks["cluster"]["summary"] == "cluster sreplat-dev does not exist"
    assert checks["cluster"]["hint"] == f"run `sreplat bootstrap --env {ENV}`"  # not local's
    for name in ("releases", "workloads"):
        assert (checks[name]["verdict"], checks[name]["summary"]) == (
            "unknown",
            "skipped: cluster sreplat-dev does not exist",
        ), name
    assert checks["endpoint"]["summary"] == "skipped: cluster sreplat-dev does not exist"
    # Said by cluster and (no release record yet) registry, never by the checks that skipped.
    said = [name for name, c in checks.items() if c.get("hint") == f"run `sreplat bootstrap --env {ENV}`"]
    assert said == ["cluster", "registry"]
