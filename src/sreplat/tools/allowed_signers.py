"""The SSH allowed-signers file: parse it, say what is wrong with it, find who owns a key.

Format (ssh-keygen(1), "ALLOWED SIGNERS"): one key per line, ``principals [options] keytype
base64-key [comment]``; ``#`` starts a comment line. Options are comma-separated:
``cert-authority``, ``namespaces="git,file"``, ``valid-after="YYYYMMDD[HHMM[SS]][Z]"`` and
``valid-before=...`` (OpenSSH 8.8+). Git verifies a signature against this file with the commit's
own timestamp as the verification time, so ``valid-before`` is how an expired key is written.

``git verify-commit`` (through ``ssh-keygen -Y verify``) is the authority on signatures; this module
only reads the file to check it (``doctor``) and to name the principal of a key in messages.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
_OPTION = re.compile(r'^([a-z-]+)(?:="([^"]*)")?$')
_TOKEN = re.compile(r'(?:"[^"]*"|\S)+')
_TIME = re.compile(r"^(\d{8})(\d{4}(\d{2})?)?(Z)?$")
KNOWN_OPTIONS = ("cert-authority", "namespaces", "valid-after", "valid-before")


@dataclass(frozen=True)
class Signer:
    """One line of the file: who (principals) may sign with which key, and when."""

    line: int
    principals: tuple[str, ...]
    key_type: str
    fingerprint: str  # SHA256:<base64>, as ssh-keygen -l prints it
    valid_after: dt.datetime | None = None
    valid_before: dt.datetime | None = None
    namespaces: tuple[str, ...] = ()

    def expired(self, at: dt.datetime) -> bool:
        return self.valid_before is not None and at >= self.valid_before

    @property
    def name(self) -> str:
        return ",".join(self.principals)


@dataclass(frozen=True)
class AllowedSigners:
    signers: tuple[Signer, ...]
    problems: tuple[str, ...] = field(default_factory=tuple)  # "line N: what is wrong"

    def owner_of(self, fingerprint: str) -> Signer | None:
        return next((s for s in self.signers if s.fingerprint == fingerprint), None)

    def usable(self, at: dt.datetime) -> list[Signer]:
        """Signers that may sign git commits made at ``at``."""
        return [
            s
            for s in self.signers
            if not s.expired(at)
            and (s.valid_after is None or at >= s.valid_after)
            and (not s.namespaces or "git" in s.namespaces)
        ]


def fingerprint(blob: bytes) -> str:
    """The key's SHA256 fingerprint: unpadded base64 of the SHA-256 of the key blob."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def parse(text: str) -> AllowedSigners:
    signers: list[Signer] = []
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            signers.append(_parse_line(number, _TOKEN.findall(line)))
        except ValueError as exc:
            problems.append(f"line {number}: {exc}")
    return AllowedSigners(tuple(signers), tuple(problems))


def _parse_line(number: int, tokens: Sequence[str]) -> Signer:
    if len(tokens) < 3:
        raise ValueError("expected `principals [options] keytype key`")
    principals = tuple(p for p in tokens[0].strip('"').split(",") if p)
    rest = list(tokens[1:])
    options: dict[str, str] = {}
    if rest[0] not in KEY_TYPES:
        options = _parse_options(rest.pop(0))
    if len(rest) < 2:
        raise ValueError("no key after the options")
    key_type, key_b64 = rest[0], rest[1]
    if key_type not in KEY_TYPES:
        raise ValueError(f"unknown key type {key_type!r}")
    try:
        blob = base64.b64decode(key_b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the key is not valid base64") from None
    if _blob_type(blob) != key_type:
        raise ValueError(f"the key is not a {key_type} key")
    if "cert-authority" in options:
        raise ValueError("cert-authority lines are not supported: list each signer's key")
    return Signer(
        line=number,
        principals=principals,
        key_type=key_type,
        fingerprint=fingerprint(blob),
        valid_after=_time(options["valid-after"]) if "valid-after" in options else None,
        valid_before=_time(options["valid-before"]) if "valid-before" in options else None,
        namespaces=tuple(n for n in options.get("namespaces", "").split(",") if n),
    )


def _parse_options(token: str) -> dict[str, str]:
    options: dict[str, str] = {}
    # Split on commas outside quotes: namespaces="git,file" is one option.
    for part in re.findall(r'(?:"[^"]*"|[^,])+', token):
        match = _OPTION.match(part)
        if match is None or match[1] not in KNOWN_OPTIONS:
            raise ValueError(f"unknown option {part!r} (known: {', '.join(KNOWN_OPTIONS)})")
        options[match[1]] = match[2] or ""
    return options


def _time(value: str) -> dt.datetime:
    """``YYYYMMDD[HHMM[SS]][Z]``; without ``Z`` ssh-keygen reads local time, as this does."""
    match = _TIME.match(value)
    if match is None:
        raise ValueError(f"time {value!r} is not YYYYMMDD[HHMM[SS]][Z]")
    fmt = {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}[len(value.rstrip("Z"))]
    parsed = dt.datetime.strptime(value.rstrip("Z"), fmt)
    if match[4]:
        return parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone()  # local time, made aware


def _blob_type(blob: bytes) -> str:
    """The key type a public key blob names in its first field (RFC 4253 string)."""
    if len(blob) < 4:
        return ""
    (length,) = struct.unpack(">I", blob[:4])
    return blob[4 : 4 + length].decode("ascii", errors="replace")
