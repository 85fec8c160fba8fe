"""Real signing keys and signed commits for tests: ``ssh-keygen`` and ``gpg`` from Debian.

Everything lives under the folder given (each GnuPG home included); nothing reads or writes the
user's ``~/.ssh`` or ``~/.gnupg``. ``close()`` stops the gpg-agents the signing homes started.

- SSH keys sign with ``gpg.format=ssh`` + ``user.signingkey=<private key file>``; an allowed-signers
  line lists a key (``valid-before`` in the past models an expired key: git verifies with the
  commit's own time).
- OpenPGP keys each live in their own GnuPG home; an expired key is made with GnuPG's
  ``--faked-system-time`` three days ago, valid for one day, and signs through a ``gpg`` wrapper
  that keeps that faked time (a real expired key cannot sign today).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_SYSTEM": "/dev/null",
}


def _run(argv: list[str], *, env: Mapping[str, str] | None = None, stdin: str | None = None) -> str:
    result = subprocess.run(
        argv,
        check=True,
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    return result.stdout.strip()


@dataclass(frozen=True)
class SshKey:
    name: str
    private: Path
    public_line: str  # "ssh-ed25519 AAAA..."
    fingerprint: str  # SHA256:...

    def allowed(self, principal: str, options: str = "") -> str:
        return f"{principal} {options + ' ' if options else ''}{self.public_line}\n"

    def git_args(self) -> list[str]:
        return ["-c", "gpg.format=ssh", "-c", f"user.signingkey={self.private}"]


@dataclass(frozen=True)
class GpgKey:
    uid: str
    home: Path
    fingerprint: str
    program: str = "gpg"  # a wrapper for the expired key

    def armored(self) -> str:
        return _run(
            ["gpg", "--batch", "--armor", "--export", self.fingerprint], env={"GNUPGHOME": str(self.home)}
        )

    def git_args(self) -> list[str]:
        return [
            "-c",
            "gpg.format=openpgp",
            "-c",
            f"gpg.program={self.program}",
            "-c",
            f"user.signingkey={self.fingerprint}",
        ]


class SigningKit:
    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._homes: list[Path] = []

    def ssh_key(self, name: str) -> SshKey:
        private = self.root / f"ssh-{name}"
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(private)])
        public = (self.root / f"ssh-{name}.pub").read_text().split()
        fingerprint = _run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(private) + ".pub"]).split()[1]
        return SshKey(name, private, f"{public[0]} {public[1]}", fingerprint)

    def gpg_key(self, name: str, email: str, *, expired: bool = False) -> GpgKey:
        home = self.root / f"gpg-{name}"
        home.mkdir(mode=0o700)
        self._homes.append(home)
        uid = f"{name} <{email}>"
        env = {"GNUPGHOME": str(home)}
        faked: list[str] = []
        program = "gpg"
        if expired:
            past = int(time.time()) - 3 * 86400
            faked = ["--faked-system-time", f"{past}!"]
            wrapper = self.root / f"gpg-{name}-faked"
            wrapper.write_text(f'#!/bin/sh\nexec gpg --faked-system-time {past + 3600}! "$@"\n')
            wrapper.chmod(0o755)
            program = str(wrapper)
        _run(
            [
                *("gpg", "--batch", "--quiet", *faked, "--pinentry-mode", "loopback", "--passphrase", ""),
                *("--quick-gen-key", uid, "ed25519", "sign", "1d" if expired else "1y"),
            ],
            env=env,
        )
        listing = _run(["gpg", "--batch", "--with-colons", "--list-keys", email], env=env)
        fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
        return GpgKey(uid, home, fingerprint, program)

    def close(self) -> None:
        for home in self._homes:
            subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False, timeout=30)


class SignedRepo:
    """A throwaway repository whose commits the test signs (or not) one by one."""

    def __init__(self, path: Path):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, env: Mapping[str, str] | None = None, stdin: str | None = None) -> str:
        return _run(["git", "-C", str(self.path), *args], env={**GIT_ENV, **(env or {})}, stdin=stdin)

    def commit(
        self,
        files: Mapping[str, str] | None = None,
        *,
        key: SshKey | GpgKey | None = None,
        message: str = "change",
    ) -> str:
        for name, text in (files or {}).items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        self.git("add", "-A")
        env = {"GNUPGHOME": str(key.home)} if isinstance(key, GpgKey) else None
        signing = [*key.git_args(), "commit", "-S"] if key is not None else ["commit"]
        self.git(*signing, "-q", "--allow-empty", "-m", message, env=env)
        return self.git("rev-parse", "HEAD")

    def tampered(self, sha: str) -> str:
        """A commit object equal to ``sha`` but for its message, with ``sha``'s signature kept."""
        original = self.git("cat-file", "commit", sha)
        headers, _, message = original.partition("\n\n")
        forged = f"{headers}\n\n{message} (edited after signing)\n"
        return self.git("hash-object", "-t", "commit", "-w", "--stdin", stdin=forged)
