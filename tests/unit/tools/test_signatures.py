"""Commit signatures through the real ``git verify-commit``: SSH keys made by ``ssh-keygen`` and
OpenPGP keys made by ``gpg``, commits signed by real git. Each bad case (unsigned, unknown key,
expired key, tampered commit) must come back untrusted, with the signer and the trust file named."""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sreplat.errors import ExitCode, UsageError
from sreplat.tools.signatures import Outcome, TrustFiles, verify_commit
from tests.support.signing import GpgKey, SignedRepo, SigningKit, SshKey

pytestmark = pytest.mark.signing

SIGNERS = Path(".github/allowed_signers")
KEYRING = Path(".github/signing-keys.asc")
FILES = TrustFiles(allowed_signers=SIGNERS, keyring=KEYRING)


@dataclass(frozen=True)
class Keys:
    alice: SshKey  # trusted
    mallory: SshKey  # never listed
    bob: GpgKey  # trusted
    eve: GpgKey  # not in the keyring
    carol: GpgKey  # in the keyring, expired


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keys]:
    kit = SigningKit(tmp_path_factory.mktemp("keys"))
    try:
        yield Keys(
            alice=kit.ssh_key("alice"),
            mallory=kit.ssh_key("mallory"),
            bob=kit.gpg_key("Bob", "bob@example.com"),
            eve=kit.gpg_key("Eve", "eve@example.com"),
            carol=kit.gpg_key("Carol", "carol@example.com", expired=True),
        )
    finally:
        kit.close()


def trusted_repo(path: Path, keys: Keys, *, signers: str | None = None) -> SignedRepo:
    """A repository whose first commit lists alice (SSH) and bob and carol (OpenPGP) as trusted."""
    repo = SignedRepo(path)
    repo.commit(
        {
            str(SIGNERS): signers if signers is not None else keys.alice.allowed("alice@example.com"),
            str(KEYRING): keys.bob.armored() + "\n" + keys.carol.armored() + "\n",
        },
        key=keys.alice,
        message="trust alice, bob and carol",
    )
    return repo


@pytest.fixture
def repo(tmp_path: Path, keys: Keys) -> SignedRepo:
    return trusted_repo(tmp_path / "repo", keys)


# --- SSH --------------------------------------------------------------------------------------


def test_an_ssh_signature_by_a_listed_key_is_trusted(repo: SignedRepo, keys: Keys) -> None:
    sha = repo.commit({"a.txt": "1"}, key=keys.alice)

    verdict = verify_commit(repo.path, sha, FILES)

    assert verdict.outcome is Outcome.TRUSTED
    assert (verdict.kind, verdict.signer, verdict.key) == ("ssh", "alice@example.com", keys.alice.fingerprint)
    assert verdict.trust_file == f"{SIGNERS} as of {repo.git('rev-parse', 'HEAD~1')[:12]}"
    assert "alice@example.com" in verdict.describe()


def test_an_unsigned_commit_is_refused_naming_both_trust_files(repo: SignedRepo) -> None:
    sha = repo.commit({"a.txt": "1"})

    verdict = verify_commit(repo.path, sha, FILES)

    assert verdict.outcome is Outcome.UNSIGNED and not verdict.trusted
    error = verdict.refusal()
    assert isinstance(error, UsageError) and error.exit_code is ExitCode.USAGE
    assert sha[:12] in error.message and "is not signed" in error.message
    assert str(SIGNERS) in error.message and str(KEYRING) in error.message


def test_an_ssh_key_that_is_not_listed_is_refused_naming_the_key(repo: SignedRepo, keys: Keys) -> None:
    sha = repo.commit({"a.txt": "1"}, key=keys.mallory)

    verdict = verify_commit(repo.path, sha, FILES)

    assert verdict.outcome is Outcome.UNKNOWN_KEY
    assert verdict.key == keys.mallory.fingerprint
    message = verdict.refusal().message
    assert keys.mallory.fingerprint in message and f"which is not in {SIGNERS}" in message


def test_an_expired_ssh_key_is_refused(tmp_path: Path, keys: Keys) -> None:
    # valid-before in the past: git verifies with the commit's own time, which is after it.
    expired = keys.alice.allowed("alice@example.com", 'valid-before="20200101"')
    repo = trusted_repo(tmp_path / "repo", keys, signers=expired)
    sha = repo.commit({"a.txt": "1"}, key=keys.alice)

    verdict = verify_commit(repo.path, sha, FILES)

    assert verdict.outcome is Outcome.EXPIRED
    assert (verdict.signer, verdict.key) == ("alice@example.com", keys.alice.fingerprint)
    assert "key had expired" in verdict.describe()


def test_a_commit_changed_after_ssh_signing_does_not_verify(repo: SignedRepo, keys: Keys) -> None:
    forged = repo.tampered(repo.commit({"a.txt": "1"}, key=keys.alice))

    verdict = verify_commit(repo.path, forged, FILES)

    assert verdict.outcome is Outcome.BAD_SIGNATURE
    assert "does not verify" in verdict.describe()


def test_a_commit_cannot_trust_itself_by_adding_its_own_key(repo: SignedRepo, keys: Keys) -> None:
    """The allowed signers are read as committed in the parent, never in the commit checked."""
    grows = (repo.path / SIGNERS).read_text() + keys.mallory.allowed("mallory@example.com")
    sha = repo.commit({str(SIGNERS): grows}, key=keys.mallory, message="trust me")

    assert verify_commit(repo.path, sha, FILES).outcome is Outcome.UNKNOWN_KEY
    # Once that change is in a parent, mallory's next commit is trusted, as git's docs describe.
    after = repo.commit({"b.txt": "2"}, key=keys.mallory)
    assert verify_commit(repo.path, after, FILES).outcome is Outcome.TRUSTED


def test_no_allowed_signers_file_in_the_parent_trusts_nobody(tmp_path: Path, keys: Keys) -> None:
    repo = SignedRepo(tmp_path / "bare")
    repo.commit({"README": "x"}, key=keys.alice)
    sha = repo.commit({"a.txt": "1"}, key=keys.alice)

    verdict = verify_commit(repo.path, sha, FILES)

    assert verdict.outcome is Outcome.NO_TRUST_FILE
    assert f"{SIGNERS} as of" in verdict.describe() and "does not exist" in verdict.describe()


def test_an_absolute_trust_file_is_read_from_disk(tmp_path: Path, keys: Keys) -> None:
    repo = SignedRepo(tmp_path / "repo")
    sha = repo.commit({"a.txt": "1"}, key=keys.alice)
    outside = tmp_path / "allowed_signers"
    outside.write_text(keys.alice.allowed("alice@example.com"))

    verdict = verify_commit(repo.path, sha, TrustFiles(allowed_signers=outside))

    assert verdict.outcome is Outcome.TRUSTED and verdict.trust_file == str(outside)


# --- OpenPGP ----------------------------------------------------------------------------------


def test_an_openpgp_signature_by_a_key_in_the_keyring_is_trusted(repo: SignedRepo, keys: Keys) -> None:
    sha = repo.commit({"a.txt": "1"}, key=keys.bob)

    verdict = verify_commit(repo.path, sha, FILES)

    assert verdict.outcome is Outcome.TRUSTED
    assert (verdict.kind, verdict.signer, verdict.key) == ("openpgp", keys.bob.uid, keys.bob.fingerprint)


def test_an_openpgp_key_not_in_the_keyring_is_refused(repo: SignedRepo, keys: Keys) -> None:
    sha = repo.commit({"a.txt": "1"}, key=keys.eve)

    verdict = verify_commit(repo.path, sha, FILES)

    assert verdict.outcome is Outcome.UNKNOWN_KEY
    assert verdict.key == keys.eve.fingerprint
    assert f"which is not in {KEYRING}" in verdict.refusal().message


def test_an_expired_openpgp_key_is_refused(repo: SignedRepo, keys: Keys) -> None:
    sha = repo.commit({"a.txt": "1"}, key=keys.carol)

    verdict = verify_commit(repo.path, sha, FILES)

    assert verdict.outcome is Outcome.EXPIRED
    assert (verdict.signer, verdict.key) == (keys.carol.uid, keys.carol.fingerprint)


def test_a_commit_changed_after_openpgp_signing_does_not_verify(repo: SignedRepo, keys: Keys) -> None:
    forged = repo.tampered(repo.commit({"a.txt": "1"}, key=keys.bob))

    verdict = verify_commit(repo.path, forged, FILES)

    assert verdict.outcome is Outcome.BAD_SIGNATURE
    assert verdict.signer == keys.bob.uid


def test_verification_leaves_no_gnupg_home_or_agent_behind(repo: SignedRepo, keys: Keys) -> None:
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "sreplat-sig-*")))
    sha = repo.commit({"a.txt": "1"}, key=keys.bob)

    assert verify_commit(repo.path, sha, FILES).trusted

    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "sreplat-sig-*"))) == before
    assert not (Path(os.environ["HOME"]) / ".gnupg").exists()
