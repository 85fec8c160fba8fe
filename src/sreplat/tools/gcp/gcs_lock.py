"""An environment lock that holds across machines: one object in the state bucket.

A laptop and a CI runner deploying the same environment share nothing but the bucket, so the
lock lives there (``<state prefix>/lock.json``) and relies on Cloud Storage's request
preconditions (cloud.google.com/storage/docs/request-preconditions):

- **take**: create the object with ``ifGenerationMatch=0`` — it succeeds only if no live object
  exists, so of two runs exactly one gets it; the other gets ``412`` and reads who holds it;
- **holder and expiry inside**: who (user, host, pid, run id), what for, since when and until
  when. The holder renews the expiry while it runs (``ifGenerationMatch=<its generation>``);
- **stale locks** (expired: the holder died without releasing, e.g. SIGKILL or a lost runner)
  are taken over by overwriting exactly the generation that was read as expired; a live lock is
  never touched, and of two runs taking over the same stale lock only one wins;
- **release**: delete with ``ifGenerationMatch=<own generation>``, so a run whose lock expired
  and was taken over never deletes the new holder's lock.

Expiry is compared with this machine's clock: the default time to live (10 minutes, renewed
every minute) leaves minutes of room for clock skew between NTP-synchronised machines.
"""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sreplat.errors import LockHeld, OperationFailed
from sreplat.tools.api_calls import PreconditionFailed, ResourceMissing
from sreplat.tools.gcp import gcs_state
from sreplat.tools.gcp.access import GcpAccess

log = logging.getLogger("sreplat.lock")

LOCK_TTL_S = 600.0
RENEW_EVERY_S = 60.0
CALL_TIMEOUT_S = 30.0
# Take/take-over rounds before giving up: each lost round means another run changed the object.
MAX_ROUNDS = 5


@dataclass(frozen=True)
class Holder:
    """What the lock object says."""

    run: str
    purpose: str
    user: str
    host: str
    pid: int
    since: float  # epoch seconds
    expires: float

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "purpose": self.purpose,
            "user": self.user,
            "host": self.host,
            "pid": self.pid,
            "since": _rfc3339(self.since),
            "expires": _rfc3339(self.expires),
        }

    @classmethod
    def from_json(cls, data: Any) -> Holder:
        try:
            return cls(
                run=str(data["run"]),
                purpose=str(data.get("purpose", "")),
                user=str(data.get("user", "?")),
                host=str(data.get("host", "?")),
                pid=int(data.get("pid", 0)),
                since=_epoch(str(data["since"])),
                expires=_epoch(str(data["expires"])),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a sreplat lock: {exc}") from exc

    def describe(self) -> str:
        return (
            f"{self.user}@{self.host} pid {self.pid} ({self.purpose or 'sreplat'}, since "
            f"{_rfc3339(self.since)}, expires {_rfc3339(self.expires)} unless renewed)"
        )


class GcsLock:
    """``acquire`` / ``release`` of ``gs://<bucket>/<name>`` (see the module docstring).

    ``on_missing_bucket``: called once when the bucket does not exist yet (bootstrap creates it
    there, then the lock is taken); without it a missing bucket is an error.
    """

    def __init__(
        self,
        access: GcpAccess,
        bucket: str,
        name: str,
        *,
        env: str,
        ttl_s: float = LOCK_TTL_S,
        renew_every_s: float = RENEW_EVERY_S,
        on_missing_bucket: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if renew_every_s >= ttl_s:
            raise ValueError("the lock must be renewed before it expires")
        self.access = access
        self.bucket = bucket
        self.name = name
        self.env = env
        self.ttl_s = ttl_s
        self.renew_every_s = renew_every_s
        self.on_missing_bucket = on_missing_bucket
        self.clock = clock
        self.run = uuid.uuid4().hex
        self.lost = False  # set when a renewal found someone else's lock, or ours expired
        self._on_lost: Callable[[str], None] | None = None
        self._holder: Holder | None = None
        self._generation: int | None = None
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    @property
    def where(self) -> str:
        return f"gs://{self.bucket}/{self.name}"

    @property
    def held(self) -> bool:
        return self._generation is not None

    # --- take --------------------------------------------------------------------------------
    def acquire(self, purpose: str) -> str | None:
        """Take the lock or raise ``LockHeld`` (exit 4) naming the holder; a note when an expired
        lock was taken over."""
        now = self.clock()
        holder = Holder(
            run=self.run,
            purpose=purpose,
            user=_user(),
            host=socket.gethostname(),
            pid=os.getpid(),
            since=now,
            expires=now + self.ttl_s,
        )
        bucket_created = False
        note = None
        for _ in range(MAX_ROUNDS):
            try:
                generation = self._write(holder, if_generation_match=0)
            except PreconditionFailed:
                current = self._read()
                if current is None:
                    continue  # released between our write and our read: try again
                found, found_generation = current
                if found is None:
                    raise LockHeld(
                        f"environment {self.env!r} is locked: {self.where} exists but is not a lock "
                        "this sreplat can read",
                        hint=f"if no sreplat run is active, remove it: gcloud storage rm {self.where}",
                    ) from None
                if found.expires > self.clock():
                    raise self._held(found) from None
                try:  # expired: take over exactly the version that was read as expired
                    generation = self._write(holder, if_generation_match=found_generation)
                except PreconditionFailed:
                    continue  # someone renewed it or took it over first: look again
                note = f"took over the expired lock {self.where} of {found.describe()}"
                log.warning("%s", note)
            except ResourceMissing:
                if self.on_missing_bucket is None or bucket_created:
                    raise
                self.on_missing_bucket()
                bucket_created = True
                continue
            self._holder, self._generation = holder, generation
            self._start_renewing()
            return note
        raise OperationFailed(
            f"could not take the lock {self.where}: it kept changing under this run",
            hint="another sreplat run is starting at the same time; try again",
        )

    def _held(self, holder: Holder) -> LockHeld:
        return LockHeld(
            f"environment {self.env!r} is locked by {holder.describe()}",
            hint=f"wait for that run to finish (the lock is {self.where}; it is taken over once it expires)",
        )

    # --- renew -------------------------------------------------------------------------------
    def _start_renewing(self) -> None:
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name="sreplat-lock", daemon=True)
        self._renewer.start()

    def watch(self, on_lost: Callable[[str], None]) -> None:
        """Call ``on_lost(reason)`` (once, from the renewing thread) if the lock is lost."""
        self._on_lost = on_lost

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.renew_every_s):
            try:
                self.renew()
            except OperationFailed as exc:  # a failed renewal is retried at the next tick...
                log.warning("could not renew the lock %s: %s", self.where, exc.one_line())
                holder = self._holder
                if holder is not None and self.clock() >= holder.expires:  # ...until ours expired
                    self._lose(f"could not renew the lock {self.where} before it expired")
            if self.lost:
                return

    def renew(self) -> None:
        """Push the expiry forward (only over our own generation)."""
        with self._guard:
            if self._holder is None or self._generation is None:
                return
            renewed = dataclasses.replace(self._holder, expires=self.clock() + self.ttl_s)
            try:
                self._generation = self._write(renewed, if_generation_match=self._generation)
            except PreconditionFailed:
                taken_over = True
            else:
                taken_over = False
                self._holder = renewed
        if taken_over:
            self._lose(f"the lock {self.where} was taken over by another run")

    def _lose(self, reason: str) -> None:
        """Another run may hold the environment now: say so, and let the session stop this one."""
        self.lost = True
        log.error("%s: this run no longer holds it", reason)
        if self._on_lost is not None:
            self._on_lost(reason)

    # --- release -----------------------------------------------------------------------------
    def release(self) -> None:
        """Delete the lock object if it is still ours. Never raises: a lock that cannot be
        deleted now expires on its own."""
        self._stop.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join(timeout=CALL_TIMEOUT_S)
        with self._guard:
            generation, self._generation, self._holder = self._generation, None, None
        if generation is None or self.lost:
            return
        try:
            gcs_state.delete_object(
                self.access, self.bucket, self.name, if_generation_match=generation, timeout=CALL_TIMEOUT_S
            )
        except PreconditionFailed:
            log.warning("the lock %s is no longer this run's: left as it is", self.where)
        except OperationFailed as exc:
            log.warning("could not release %s (it expires on its own): %s", self.where, exc.one_line())

    def __enter__(self) -> GcsLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # --- the object ----------------------------------------------------------------------------
    def _write(self, holder: Holder, *, if_generation_match: int) -> int:
        data = json.dumps(holder.to_json(), indent=2, sort_keys=True).encode()
        return gcs_state.write_object(
            self.access,
            self.bucket,
            self.name,
            data,
            if_generation_match=if_generation_match,
            timeout=CALL_TIMEOUT_S,
        )

    def _read(self) -> tuple[Holder | None, int] | None:
        """The holder (None if the object is not a readable lock) and the generation read."""
        found = gcs_state.read_versioned(self.access, self.bucket, self.name, timeout=CALL_TIMEOUT_S)
        if found is None:
            return None
        with contextlib.suppress(ValueError):
            return Holder.from_json(json.loads(found.data)), found.generation
        return None, found.generation


def _rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _epoch(text: str) -> float:
    import calendar

    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
