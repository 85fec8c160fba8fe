"""Bad input to a gcp environment is refused with exit 2 before any API call; ``plan`` shows the
steps, the Terraform change summary and the Helm diff, and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.targets.gcp.world import STEPS, World

VERBS = [
    ("bootstrap",),
    ("deploy", "--sha", "0123456789abcdef"),  # well-formed; the setting is refused before it is looked up
    ("status",),
    ("destroy", "--yes"),
    ("plan",),
]
BAD_SETTINGS = [
    ("project", "Acme_Dev", "project = 'Acme_Dev'"),
    ("project", "acme", "project = 'acme'"),
    ("region", "asia-south1-a", "not a zone"),
    ("region", "mars", "region = 'mars'"),
    ("domain", "dev_acme.example", "domain = 'dev_acme.example'"),
    ("api_host", "api.other.example", "is not inside domain"),
]


def nothing_happened(world: World) -> None:
    assert world.calls() == []
    assert not world.state_dir.exists()


@pytest.mark.parametrize(("key", "value", "words"), BAD_SETTINGS)
@pytest.mark.parametrize("verb", VERBS, ids=lambda v: v[0])
def test_a_malformed_setting_is_refused_before_any_call(
    world: World, verb: tuple[str, ...], key: str, value: str, words: str
) -> None:
    run = world.cli(*verb, "--set", f"{key}={value}")

    assert run.code == 2, run.err[-2000:]
    assert words in run.error["message"]
    nothing_happened(world)


@pytest.mark.parametrize(
    ("sha", "words"),
    [
        ("xyz", "invalid SHA 'xyz'"),
        ("12345", "invalid SHA '12345'"),
        ("g" * 40, "expected 7 to 40 hexadecimal digits"),
        ("deadbeefdeadbeef", "deadbeefdeadbeef"),  # well-formed, but no such commit
    ],
)
def test_a_bad_sha_is_refused_before_any_call(world: World, sha: str, words: str) -> None:
    for argv in (("deploy", "--sha", sha), ("plan", "deploy", "--sha", sha)):
        run = world.cli(*argv)
        assert run.code == 2, run.err[-2000:]
        assert words in run.error["message"]
    nothing_happened(world)


def test_an_environment_name_too_long_for_the_stacks_is_refused(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    config = world.project_dir / "sreplat.toml"
    config.write_text(config.read_text().replace("[environments.dev]", "[environments.development13]"))
    from sreplat.cli.main import main

    capsys.readouterr()
    code = main(["--output", "json", "--env", "development13", "bootstrap"], seams=world.seams)

    assert code == 2
    assert "gcp environment names are at most 12 characters" in capsys.readouterr().out
    assert world.calls() == []


@pytest.mark.terraform
@pytest.mark.helm
def test_plan_before_anything_exists_says_what_would_be_created(world: World) -> None:
    run = world.cli("plan")

    assert run.code == 0, run.err[-3000:]
    steps = [line["step"] for line in run.events("plan.step")]
    assert steps == STEPS
    result = run.result
    assert result["terraform"]["foundation"].startswith("no state yet: every resource would be created")
    for release in ("platform", "redis", "api", "worker"):
        assert result["helm"][release].startswith("install: ")
        assert result["helm"][release].endswith("objects (no cluster yet)")
    assert world.calls(writes_only=True) == []
    assert not world.state_dir.exists()


@pytest.mark.terraform
@pytest.mark.helm
@pytest.mark.slow
def test_plan_of_an_environment_that_is_up_diffs_terraform_and_helm(world: World) -> None:
    from sreplat.pipeline.lock import EnvironmentLock

    assert world.cli("bootstrap").code == 0
    new = world.commit("v2")
    world.reset_calls()
    lock = EnvironmentLock(world.state_dir, "dev")
    lock.acquire("a deploy in another terminal")  # plan must not need it
    try:
        before = _snapshot(world.state_dir)
        bootstrap = world.cli("plan")
        deploy = world.cli("plan", "deploy", "--sha", new)
        destroy = world.cli("plan", "destroy")
        after = _snapshot(world.state_dir)
    finally:
        lock.release()

    assert bootstrap.code == deploy.code == destroy.code == 0
    assert bootstrap.result["terraform"] == {"foundation": "no changes", "cluster": "no changes"}
    assert bootstrap.result["helm"]["redis"] == "no change (revision 1)"
    assert deploy.result["images"] == {
        "api": "would be built and pushed",
        "worker": "would be built and pushed",
    }
    assert deploy.result["helm"]["api"].startswith("+0 ~")
    assert "Deployment/sreplat/api" in deploy.result["helm"]["api"]
    assert [line["step"] for line in deploy.events("plan.step")] == [
        "current",
        "images",
        "upgrade",
        "smoke",
        "record",
    ]
    assert destroy.result["removes"]["releases"] == "worker, api, redis, platform"
    # Nothing changed: no write but server-side dry runs, no state lock taken (Terraform's
    # would be an object in the bucket), nothing written to the state dir (Terraform's data dir
    # for the plan is a scratch dir).
    writes = [(n, r) for n, r in world.calls(writes_only=True) if "dryRun" not in r.query]
    assert writes == []
    assert after == before


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` with its size and modification time (ns)."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.mark.terraform
def test_doctor_checks_terraform_credentials_bucket_and_layout(world: World) -> None:
    run = world.cli("doctor")

    assert run.code == 0, run.err[-2000:]
    checks = run.checks()
    assert list(checks) == ["terraform", "credentials", "state bucket", "layout", "commit signatures"]
    assert checks["terraform"]["summary"].startswith("terraform 1.")
    assert (
        checks["state bucket"]["summary"]
        == "no state in gs://acme-sre-dev-sreplat-tfstate yet (bootstrap creates it)"
    )
    world.configure(charts_dir=str(world.root / "nowhere"))

    broken = world.cli("doctor")

    assert broken.code == 1
    assert broken.checks()["layout"]["summary"].startswith("Helm chart 'platform' not found in ")
    assert world.calls(writes_only=True) == []
