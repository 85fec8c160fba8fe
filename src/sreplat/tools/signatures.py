"""Is a commit signed by someone the repository trusts? Answered by the real ``git verify-commit``.

Two kinds of signature (gitformat-signature(5)): SSH, checked against an allowed-signers file
(``gpg.ssh.allowedSignersFile``: git trusts a key only when the file lists it, at the commit's own
time, so ``valid-before`` expires a key), and OpenPGP, checked against a keyring of trusted
public keys (imported into a throwaway ``GNUPGHOME``: nobody's ``~/.gnupg`` is read or written).
X.509 signatures are refused as unsupported.

Which trust files: a path relative to the repository is read *as committed in the verified
commit's first parent* (a root commit: in itself). Git's own documentation of
``gpg.ssh.allowedSignersFile`` describes keeping the file in the repository so that "only
committers with an already valid key can add or change keys"; reading it from the commit under
verification would let a commit vouch for itself. An absolute path is a file on this machine.

The verdict comes from git's exit code; its raw output (``--raw``: ssh-keygen's lines, or GnuPG's
status lines) only says *why* and who signed.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from sreplat import proc
from sreplat.errors import ToolMissing, UsageError
from sreplat.tools import allowed_signers, git

SSH_HINT = "install ssh-keygen (Debian: apt-get install openssh-client)"
GPG_HINT = "install gpg (Debian: apt-get install gpg)"
_ARMOR = {
    "-----BEGIN SSH SIGNATURE-----": "ssh",
    "-----BEGIN PGP SIGNATURE-----": "openpgp",
    "-----BEGIN SIGNED MESSAGE-----": "x509",
}
_SSH_GOOD_FOR = re.compile(r'Good "git" signature for (\S+) with (\S+) key (\S+)')
_SSH_GOOD_WITH = re.compile(r'Good "git" signature with (\S+) key (\S+)')
_KIND_NAME = {"ssh": "SSH", "openpgp": "OpenPGP", "x509": "X.509"}


class Outcome(StrEnum):
    TRUSTED = "trusted"
    UNSIGNED = "unsigned"
    UNKNOWN_KEY = "unknown key"
    EXPIRED = "expired key"
    REVOKED = "revoked key"
    BAD_SIGNATURE = "bad signature"
    NO_TRUST_FILE = "no trust file"
    UNSUPPORTED = "unsupported signature"


_DESCRIPTIONS = {
    Outcome.TRUSTED: "commit {sha} is signed by {who}{key}, trusted by {where}",
    Outcome.UNSIGNED: "commit {sha} is not signed; trusted signers are listed in {where}",
    Outcome.UNKNOWN_KEY: "commit {sha} is signed by {who}{key}, which is not in {where}",
    Outcome.EXPIRED: "commit {sha} is signed by {who}{key}, whose key had expired (see {where})",
    Outcome.REVOKED: "commit {sha} is signed by {who}{key}, whose key is revoked (see {where})",
    Outcome.BAD_SIGNATURE: "commit {sha} has a {kind} signature{by}{key} that does not verify: the "
    "commit was changed after it was signed (trusted signers: {where})",
    Outcome.NO_TRUST_FILE: "commit {sha} is {kind}-signed, but {where} does not exist: no signer can "
    "be trusted",
    Outcome.UNSUPPORTED: "commit {sha} has an {kind} signature, which sreplat does not verify (use SSH "
    "or OpenPGP)",
}


DEFAULT_ALLOWED_SIGNERS = Path(".github/allowed_signers")
DEFAULT_KEYRING = Path(".github/signing-keys.asc")


def trust_path(value: Path) -> Path:
    """A settings validator: absolute, or relative and inside the repository."""
    if not value.is_absolute() and (not value.parts or ".." in value.parts):
        raise ValueError("a path inside the repository (no '..'), or an absolute path")
    return value


@dataclass(frozen=True)
class TrustFiles:
    """Where trusted signers are listed: SSH allowed signers and OpenPGP public keys (armored).

    Relative paths are in the repository (read as committed in the verified commit's parent).
    """

    allowed_signers: Path
    keyring: Path | None = None


TrustPath = Annotated[Path, AfterValidator(trust_path)]


class CommitTrustSettings(BaseModel):
    """The keys of commit verification, the same in every target's Settings (mixed in beside
    ``EnvironmentSettings``; a target may change the default of ``require_signed_commits``)."""

    require_signed_commits: bool = Field(
        False, description="deploy --sha refuses a commit not signed by a trusted key"
    )
    allowed_signers: TrustPath = Field(
        DEFAULT_ALLOWED_SIGNERS,
        description="SSH allowed-signers file (relative: in the repository, as committed in the "
        "deployed commit's parent)",
    )
    signing_keyring: TrustPath | None = Field(
        DEFAULT_KEYRING, description="trusted OpenPGP public keys, armored (gpg --export --armor)"
    )

    @property
    def trust_files(self) -> TrustFiles:
        return TrustFiles(allowed_signers=self.allowed_signers, keyring=self.signing_keyring)


@dataclass(frozen=True)
class Verdict:
    sha: str
    outcome: Outcome
    kind: str = ""  # ssh | openpgp | x509 | "" (unsigned)
    signer: str = ""  # the principal or OpenPGP user id, when known
    key: str = ""  # the key's fingerprint (or id), when known
    trust_file: str = ""  # the file that lists trusted signers, and as of which commit
    detail: str = ""  # git's raw output, for the run log

    @property
    def trusted(self) -> bool:
        return self.outcome is Outcome.TRUSTED

    def describe(self) -> str:
        """One line: what the signature is, and who trusts it (or why nobody does)."""
        kind = _KIND_NAME.get(self.kind, self.kind)
        words = {
            "sha": self.sha[:12],
            "kind": kind,
            "who": self.signer or "an unknown signer",
            "by": f" by {self.signer}" if self.signer else "",
            "key": f" ({kind} key {self.key})" if self.key else "",
            "where": self.trust_file or "the trusted signers",
        }
        return _DESCRIPTIONS[self.outcome].format(**words)

    def refusal(self) -> UsageError:
        """The error a deploy of this commit stops with (exit 2, nothing built or changed)."""
        return UsageError(
            f"refusing to deploy: {self.describe()}",
            hint="sign commits with a trusted key (git commit -S); a new key is trusted once a commit "
            "signed by an already trusted key adds it to the file",
            detail=self.detail or None,
        )


def verify_commit(repo: Path, sha: str, files: TrustFiles) -> Verdict:
    """Verify ``sha``'s signature against ``files``; never raises for an untrusted commit."""
    full = git.resolve_sha(repo, sha)
    kind = _signature_kind(repo, full)
    if kind is None:
        return Verdict(full, Outcome.UNSIGNED, trust_file=_describe_all(repo, full, files))
    if kind == "x509":
        return Verdict(full, Outcome.UNSUPPORTED, kind=kind)
    trust_path = files.allowed_signers if kind == "ssh" else files.keyring
    source = _trust_source(repo, full, trust_path)
    if trust_path is None or source.content is None:
        return Verdict(full, Outcome.NO_TRUST_FILE, kind=kind, trust_file=source.where)
    if kind == "ssh":
        return _verify_ssh(repo, full, source)
    return _verify_openpgp(repo, full, source)


@dataclass(frozen=True)
class _TrustSource:
    where: str  # how messages name it: "path as of <sha12>" or the absolute path
    content: bytes | None


def _trust_source(repo: Path, sha: str, path: Path | None) -> _TrustSource:
    if path is None:
        return _TrustSource("(no keyring configured: set signing_keyring)", None)
    if path.is_absolute():
        try:
            return _TrustSource(str(path), path.read_bytes())
        except OSError:
            return _TrustSource(str(path), None)
    base = git.first_parent(repo, sha) or sha
    return _TrustSource(f"{path.as_posix()} as of {base[:12]}", git.read_bytes(repo, base, path.as_posix()))


def _describe_all(repo: Path, sha: str, files: TrustFiles) -> str:
    paths = [files.allowed_signers, *([files.keyring] if files.keyring else [])]
    return " and ".join(_trust_source(repo, sha, p).where for p in paths)


def _signature_kind(repo: Path, sha: str) -> str | None:
    """``ssh``/``openpgp``/``x509`` from the commit's ``gpgsig`` header; None when unsigned."""
    text = git.run(repo, "cat-file", "commit", sha).stdout
    for line in text.split("\n\n", 1)[0].splitlines():
        name, _, value = line.partition(" ")
        if name in ("gpgsig", "gpgsig-sha256"):
            return _ARMOR.get(value.strip(), "unknown")
    return None


def _verify_ssh(repo: Path, sha: str, source: _TrustSource) -> Verdict:
    if shutil.which("ssh-keygen") is None:
        raise ToolMissing("ssh-keygen not found on PATH", hint=SSH_HINT)
    with _scratch() as scratch:
        signers_file = scratch / "allowed_signers"
        signers_file.write_bytes(source.content or b"")
        result = git.run(
            repo,
            "-c",
            f"gpg.ssh.allowedSignersFile={signers_file}",
            "-c",
            "gpg.ssh.program=ssh-keygen",
            "-c",
            "gpg.minTrustLevel=fully",  # SSH: fully = listed in the file, undefined = not listed
            "verify-commit",
            "--raw",
            sha,
            ok_codes=(0, 1),
        )
    output = "\n".join(filter(None, (result.stdout, result.stderr)))
    listed = allowed_signers.parse((source.content or b"").decode("utf-8", errors="replace"))
    base = Verdict(sha, Outcome.BAD_SIGNATURE, kind="ssh", trust_file=source.where, detail=output)
    good = _SSH_GOOD_FOR.search(output)
    if result.returncode == 0 and good:
        return _replace(base, Outcome.TRUSTED, signer=good[1], key=good[3])
    seen = _SSH_GOOD_WITH.search(output)
    key = seen[2] if seen else ""
    owner = listed.owner_of(key) if key else None
    signer = owner.name if owner else ""
    if "key has expired" in output or "not yet valid" in output:
        return _replace(base, Outcome.EXPIRED, signer=signer, key=key)
    if seen and "No principal matched" in output:
        return _replace(base, Outcome.UNKNOWN_KEY, signer=signer, key=key)
    return _replace(base, Outcome.BAD_SIGNATURE, signer=signer, key=key)


def _verify_openpgp(repo: Path, sha: str, source: _TrustSource) -> Verdict:
    with _scratch() as home:
        env = {"GNUPGHOME": str(home)}
        # Never start an agent: verifying needs public keys only.
        (home / "gpg.conf").write_text("no-autostart\n")
        keyring = home / "trusted.asc"
        keyring.write_bytes(source.content or b"")
        proc.run(
            ["gpg", "--batch", "--no-tty", "--quiet", "--import", str(keyring)],
            env=env,
            ok_codes=(0, 2),  # 2: some packets were not keys (the others still import)
            install_hint=GPG_HINT,
            timeout=60,
        )
        result = git.run(
            repo,
            "-c",
            "gpg.openpgp.program=gpg",
            "-c",
            "gpg.program=gpg",
            # Every key in the keyring is trusted: that is what the keyring is for.
            "-c",
            "gpg.minTrustLevel=undefined",
            "verify-commit",
            "--raw",
            sha,
            ok_codes=(0, 1),
            env=env,
        )
    output = "\n".join(filter(None, (result.stdout, result.stderr)))
    status = _gpg_status(output)
    base = Verdict(sha, Outcome.BAD_SIGNATURE, kind="openpgp", trust_file=source.where, detail=output)
    key = status.get("VALIDSIG", "").split(" ")[0] or _errsig_key(status)
    for code, outcome in (
        ("EXPKEYSIG", Outcome.EXPIRED),
        ("EXPSIG", Outcome.EXPIRED),
        ("REVKEYSIG", Outcome.REVOKED),
        ("BADSIG", Outcome.BAD_SIGNATURE),
    ):
        if code in status:
            return _replace(base, outcome, signer=_uid(status[code]), key=key)
    if result.returncode == 0 and "GOODSIG" in status:
        return _replace(base, Outcome.TRUSTED, signer=_uid(status["GOODSIG"]), key=key)
    if "NO_PUBKEY" in status or "ERRSIG" in status:
        return _replace(base, Outcome.UNKNOWN_KEY, key=key)
    return base


def _gpg_status(output: str) -> dict[str, str]:
    """``[GNUPG:] KEYWORD args`` lines (gnupg doc/DETAILS) as {KEYWORD: args}."""
    status: dict[str, str] = {}
    for line in output.splitlines():
        if line.startswith("[GNUPG:] "):
            keyword, _, args = line.removeprefix("[GNUPG:] ").partition(" ")
            status.setdefault(keyword, args)
    return status


def _uid(args: str) -> str:
    """``<keyid> <user id>`` → the user id."""
    return args.partition(" ")[2].strip()


def _errsig_key(status: dict[str, str]) -> str:
    """ERRSIG's fingerprint field (the 7th, when GnuPG knows it), else its key id."""
    fields = status.get("ERRSIG", "").split(" ")
    if len(fields) >= 7 and fields[6] not in ("", "-"):
        return fields[6]
    return fields[0] if fields and fields[0] else status.get("NO_PUBKEY", "")


def _replace(verdict: Verdict, outcome: Outcome, *, signer: str = "", key: str = "") -> Verdict:
    return Verdict(
        verdict.sha,
        outcome,
        kind=verdict.kind,
        signer=signer,
        key=key,
        trust_file=verdict.trust_file,
        detail=verdict.detail,
    )


@contextmanager
def _scratch() -> Iterator[Path]:
    """A private temporary folder (short path: GnuPG puts sockets in its home)."""
    path = Path(tempfile.mkdtemp(prefix="sreplat-sig-"))
    os.chmod(path, 0o700)
    try:
        yield path
    finally:
        if shutil.which("gpgconf") and (path / "gpg.conf").exists():
            # Stop anything GnuPG may have left running for this home (nothing, with no-autostart).
            proc.run(["gpgconf", "--homedir", str(path), "--kill", "all"], check=False, timeout=30)
        shutil.rmtree(path, ignore_errors=True)


@dataclass(frozen=True)
class TrustFileCheck:
    """What ``doctor`` says about one trust file (as it is in the work tree: the next commit's
    parent)."""

    healthy: bool
    summary: str
    hint: str | None = None


SIGNERS_HINT = (
    'add `<you@example.com> <your key.pub>` lines (ssh-keygen(1) "ALLOWED SIGNERS"), sign commits with '
    "git -c gpg.format=ssh -c user.signingkey=<key> commit -S, and commit the file"
)


def check_allowed_signers(repo: Path, path: Path, *, required: bool) -> TrustFileCheck:
    """Whether the allowed-signers file exists, parses, and lists a key that can sign today."""
    import datetime as dt

    where = path if path.is_absolute() else repo / path
    if not where.is_file():
        if not required:
            return TrustFileCheck(True, f"{path} absent; signed commits are not required here")
        return TrustFileCheck(False, f"{path} does not exist: no commit can be verified", SIGNERS_HINT)
    if shutil.which("ssh-keygen") is None:
        return TrustFileCheck(
            False, "ssh-keygen not found on PATH: SSH signatures cannot be verified", SSH_HINT
        )
    listed = allowed_signers.parse(where.read_text(encoding="utf-8", errors="replace"))
    if listed.problems:
        return TrustFileCheck(False, f"{path}: {'; '.join(listed.problems[:3])}", SIGNERS_HINT)
    now = dt.datetime.now(dt.UTC)
    usable = listed.usable(now)
    expired = [s for s in listed.signers if s.expired(now)]
    if not usable:
        what = "lists no key" if not listed.signers else "lists no key valid for git signatures today"
        return TrustFileCheck(not required, f"{path} {what}", SIGNERS_HINT)
    names = sorted({p for s in usable for p in s.principals})
    summary = f"{path}: {len(usable)} key(s) may sign ({', '.join(names)})"
    if expired:
        summary += f"; {len(expired)} expired (line {', '.join(str(s.line) for s in expired)})"
    return TrustFileCheck(True, summary)
