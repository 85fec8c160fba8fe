"""``deploy --sha`` of an environment that requires signed commits, through the real CLI against
the gcp doubles, with real SSH-signed commits (``ssh-keygen``) verified by the real ``git
verify-commit``: an unsigned commit, a key that is not listed, an expired key and a commit changed
after signing are each refused with exit 2 before anything is built, locked or written; a
trusted commit deploys; ``plan deploy`` shows the verdict; bootstrap refuses an untrusted HEAD."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.signing import SigningKit, SshKey
from tests.unit.targets.gcp.world import World

pytestmark = [pytest.mark.signing]

SIGNERS = ".github/allowed_signers"


@dataclass(frozen=True)
class Keys:
    alice: SshKey  # listed
    mallory: SshKey  # never listed
    bob: SshKey  # listed with a validity that ended in 2020


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keys]:
    kit = SigningKit(tmp_path_factory.mktemp("keys"))
    yield Keys(kit.ssh_key("alice"), kit.ssh_key("mallory"), kit.ssh_key("bob"))
    kit.close()


def signed(world: World, key: SshKey | None, note: str) -> str:
    """A commit changing the apps, signed with ``key`` (None: unsigned)."""
    (world.repo.path / "apps" / "api").mkdir(parents=True, exist_ok=True)
    (world.repo.path / "apps" / "api" / "NOTE").write_text(note)
    world.repo.git("add", "-A")
    signing = [*key.git_args(), "commit", "-S"] if key is not None else ["commit"]
    world.repo.git(*signing, "-q", "-m", note)
    return world.head()


@pytest.fixture
def trusting(world: World, keys: Keys) -> World:
    """The world's repository lists alice (and an expired bob); deploys require signed commits."""
    world.repo.commit(
        {
            SIGNERS: keys.alice.allowed("alice@example.com")
            + keys.bob.allowed("bob@example.com", 'valid-before="20200101"')
        },
        "trust alice",
    )
    world.configure(require_signed_commits=True)
    return world


def assert_refused_before_anything(world: World, run_code: int, error: str, *fragments: str) -> None:
    assert run_code == 2, error
    for fragment in fragments:
        assert fragment in error, (fragment, error)
    assert world.calls(writes_only=True) == [] and world.cloudbuild.builds == {}
    assert not (world.state_dir / "lock").exists() and not (world.state_dir / "runs").exists()


@pytest.mark.parametrize("case", ["unsigned", "unknown key", "expired key"])
def test_an_untrusted_commit_is_refused_naming_commit_signer_and_file(
    trusting: World, keys: Keys, case: str
) -> None:
    world = trusting
    key = {"unsigned": None, "unknown key": keys.mallory, "expired key": keys.bob}[case]
    sha = signed(world, key, case)
    world.reset_calls()

    run = world.cli("deploy", "--sha", sha)

    expected = {
        "unsigned": ["is not signed"],
        "unknown key": [keys.mallory.fingerprint, "which is not in"],
        "expired key": ["bob@example.com", keys.bob.fingerprint, "whose key had expired"],
    }[case]
    assert_refused_before_anything(world, run.code, run.error["message"], sha[:12], SIGNERS, *expected)


def test_a_commit_changed_after_signing_is_refused(trusting: World, keys: Keys) -> None:
    world = trusting
    sha = signed(world, keys.alice, "signed, then tampered with")
    original = world.repo.git("cat-file", "commit", sha)
    headers, _, message = original.partition("\n\n")
    forged_text = f"{headers}\n\n{message} (edited)\n"
    forged_file = world.root / "forged"
    forged_file.write_text(forged_text)
    forged = world.repo.git("hash-object", "-t", "commit", "-w", str(forged_file))
    world.reset_calls()

    run = world.cli("deploy", "--sha", forged)

    assert_refused_before_anything(world, run.code, run.error["message"], forged[:12], "does not verify")


@pytest.mark.terraform
@pytest.mark.helm
@pytest.mark.slow
def test_bootstrap_refuses_an_untrusted_head_plan_shows_the_verdict_a_trusted_commit_deploys(
    trusting: World, keys: Keys
) -> None:
    world = trusting
    signed(world, None, "unsigned HEAD")
    refused = world.cli("bootstrap")
    assert refused.code == 2 and "is not signed" in refused.error["message"]

    head = signed(world, keys.alice, "signed HEAD")
    assert world.cli("bootstrap").code == 0
    bad = signed(world, keys.mallory, "mallory's")
    sha = signed(world, keys.alice, "v2, signed")

    plan_bad = world.cli("plan", "deploy", "--sha", bad)
    plan_good = world.cli("plan", "deploy", "--sha", sha)
    assert plan_bad.code == plan_good.code == 0
    assert plan_bad.result["signature"]["verdict"] == "unknown key"
    assert plan_bad.result["signature"]["deploy"].startswith("refused (exit 2)")
    assert plan_good.result["signature"]["verdict"] == "trusted"
    assert "alice@example.com" in plan_good.result["signature"]["detail"]

    run = world.cli("deploy", "--sha", sha)

    assert run.code == 0, run.err[-3000:]
    record = world.release_record()
    assert record is not None and record["sha"] == sha and head != sha


def test_doctor_checks_the_allowed_signers_file(trusting: World, keys: Keys) -> None:
    world = trusting

    good = world.cli("doctor").checks()["commit signatures"]
    assert good["verdict"] == "healthy"
    assert "1 key(s) may sign (alice@example.com); 1 expired (line 2)" in good["summary"]

    (world.repo.path / SIGNERS).write_text("alice@example.com ssh-ed25519 not-base64!\n")
    bad = world.cli("doctor")
    assert bad.checks()["commit signatures"]["verdict"] == "unhealthy"
    assert "line 1: the key is not valid base64" in bad.checks()["commit signatures"]["summary"]
    assert bad.code == 1  # doctor: a prerequisite is missing

    world.configure(require_signed_commits=False)
    (world.repo.path / SIGNERS).unlink()
    relaxed = world.cli("doctor").checks()["commit signatures"]
    assert relaxed["verdict"] == "healthy" and "not required" in relaxed["summary"]
