"""The allowed-signers parser that ``doctor`` and refusal messages use (git itself verifies)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from sreplat.tools import allowed_signers
from tests.support.signing import SigningKit

pytestmark = pytest.mark.signing
ALICE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ0kqGgvcH9l3cUUwkhs2uHqDGZ1n8ZMcQHUM4r9kRiD"


def test_fingerprints_match_ssh_keygen_and_options_are_read(tmp_path: Path) -> None:
    kit = SigningKit(tmp_path)
    alice, bob = kit.ssh_key("alice"), kit.ssh_key("bob")
    text = (
        "# who may sign\n\n"
        + alice.allowed("alice@example.com,alice@corp.example")
        + bob.allowed(
            "bob@example.com", 'namespaces="git,file",valid-after="20200101",valid-before="20300101Z"'
        )
    )

    parsed = allowed_signers.parse(text)

    assert parsed.problems == ()
    first, second = parsed.signers
    assert (first.line, first.principals, first.fingerprint) == (
        3,
        ("alice@example.com", "alice@corp.example"),
        alice.fingerprint,
    )
    assert second.namespaces == ("git", "file")
    assert second.valid_before == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert parsed.owner_of(bob.fingerprint) == second
    assert second.expired(dt.datetime(2031, 1, 1, tzinfo=dt.UTC))
    assert not second.expired(dt.datetime(2029, 1, 1, tzinfo=dt.UTC))
    assert parsed.usable(dt.datetime(2031, 1, 1, tzinfo=dt.UTC)) == [first]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("alice@example.com", "expected `principals [options] keytype key`"),
        ("alice@example.com ssh-ed25519 not*base64", "not valid base64"),
        (
            "alice@example.com ssh-rsa " + ALICE.split()[1],
            "not a ssh-rsa key",
        ),
        ("alice@example.com ssh-dss AAAA", "unknown option 'ssh-dss'"),
        ('alice@example.com expires="x" ssh-ed25519 AAAA', "unknown option"),
        (
            'alice@example.com valid-before="2020" ' + ALICE,
            "not YYYYMMDD",
        ),
    ],
)
def test_bad_lines_are_problems_with_their_line_number(line: str, problem: str) -> None:
    parsed = allowed_signers.parse("# header\n" + line + "\n")

    assert parsed.signers == ()
    [found] = parsed.problems
    assert found.startswith("line 2: ") and problem in found


def test_doctor_check_of_the_allowed_signers_file(tmp_path: Path) -> None:
    from sreplat.tools.signatures import check_allowed_signers

    kit = SigningKit(tmp_path / "keys")
    alice, bob = kit.ssh_key("alice"), kit.ssh_key("bob")
    repo = tmp_path / "repo"
    (repo / ".github").mkdir(parents=True)
    path = Path(".github/allowed_signers")

    missing = check_allowed_signers(repo, path, required=True)
    assert not missing.healthy and "does not exist" in missing.summary and missing.hint
    assert check_allowed_signers(repo, path, required=False).healthy

    (repo / path).write_text(
        alice.allowed("alice@example.com") + bob.allowed("bob@example.com", 'valid-before="20200101"')
    )
    good = check_allowed_signers(repo, path, required=True)
    assert good.healthy
    assert good.summary == f"{path}: 1 key(s) may sign (alice@example.com); 1 expired (line 2)"

    (repo / path).write_text(bob.allowed("bob@example.com", 'valid-before="20200101"'))
    assert not check_allowed_signers(repo, path, required=True).healthy

    (repo / path).write_text("alice@example.com ssh-ed25519 !!!\n")
    broken = check_allowed_signers(repo, path, required=True)
    assert not broken.healthy and "line 1: the key is not valid base64" in broken.summary
