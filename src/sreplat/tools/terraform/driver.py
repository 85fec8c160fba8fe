"""The Terraform driver: the real ``terraform`` binary, run through ``proc`` with ``-json``.

Usage (what the gcp target does for each stack)::

    tf = Terraform(stack_dir, emit=sink, step="foundation",
                   secrets={"github_token": token})       # -> TF_VAR_github_token, redacted
    tf.check_version()                                     # ToolMissing if absent or too old
    tf.init(backend_config={"bucket": b, "prefix": "sreplat/dev/foundation"})
    plan = tf.plan(state_dir / "foundation.tfplan", variables={"project_id": "p", ...})
    if plan.has_changes:
        tf.apply(plan.plan_path)                           # applies exactly what was shown
    outputs = tf.output()                                  # {"network_name": "...", ...}

Contract:
- Every run is non-interactive (``-input=false``, ``TF_IN_AUTOMATION=1``, no update check).
- ``plan``/``apply``/``destroy`` stream Terraform's JSON UI into ``emit`` as Events
  (``terraform.apply_start`` / ``apply_progress`` / ``apply_complete`` / ``apply_errored`` per
  resource, ``terraform.planned_change``, ``terraform.change_summary``, ``terraform.diagnostic``,
  see ``terraform_events``). Unknown message types are ignored.
- Failures raise ``TerraformFailed`` whose message is Terraform's first error diagnostic
  (summary, file:line) and whose ``detail`` holds all of them, readable.
- A state lock held by another run raises ``TerraformLockHeld`` (a ``LockHeld``: exit code 4)
  naming the holder. The driver never unlocks: only a person who knows the other run is dead
  should run ``terraform force-unlock``.
- Ctrl-C: ``proc`` forwards exactly one SIGINT; Terraform stops gracefully (state written, lock
  released) and ``Interrupted`` (exit 130) is raised.
- Secrets only through ``TF_VAR_<name>`` environment variables, never argv or logs; their values
  are redacted from events, results and errors. Plain variables go in a temporary
  ``.tfvars.json`` file (typed values, nothing to quote). A saved plan file contains every
  variable value, secrets included: keep plan files in the private state dir.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sreplat import proc
from sreplat.errors import LockHeld, OperationFailed, ProcessFailed, ToolMissing, UsageError
from sreplat.events import EventSink, discard
from sreplat.tools.terraform.events import (
    ChangeSummary,
    Diagnostic,
    LockInfo,
    StreamCollector,
    parse_line,
    to_event,
)

# The one place the minimum version lives: ``init -json`` needs 1.9.
MIN_VERSION: tuple[int, int, int] = (1, 9, 0)
INSTALL_HINT = (
    "install Terraform >= {}.{}.{} (https://developer.hashicorp.com/terraform/install) and put "
    "`terraform` on PATH".format(*MIN_VERSION)
)
# How long to wait for a state lock before reporting who holds it. Small on purpose: a plan
# that silently waits minutes for someone else's apply looks hung.
DEFAULT_LOCK_TIMEOUT = "0s"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_LOCK_TIMEOUT = re.compile(r"^\d+(ms|s|m|h)$")
_REPLACE = frozenset({("delete", "create"), ("create", "delete")})


class TerraformFailed(OperationFailed):
    """Terraform ran and reported errors; ``diagnostics`` are what it said."""

    def __init__(
        self,
        message: str,
        *,
        diagnostics: Sequence[Diagnostic] = (),
        hint: str | None = None,
        detail: str | None = None,
        returncode: int | None = None,
    ):
        super().__init__(message, hint=hint, detail=detail)
        self.diagnostics = tuple(diagnostics)
        self.returncode = returncode


class TerraformLockHeld(LockHeld):
    """Another run holds the state lock; ``lock`` says who (exit code 4)."""

    def __init__(self, message: str, *, lock: LockInfo, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.lock = lock


@dataclass(frozen=True)
class ResourceChange:
    """One resource in a plan. ``action``: create, update, delete, replace, read, no-op, forget."""

    address: str
    action: str
    resource_type: str
    module: str | None = None


@dataclass(frozen=True)
class PlanResult:
    """A saved plan and what it would do (from ``terraform show -json`` of that plan)."""

    plan_path: Path
    has_changes: bool
    summary: ChangeSummary
    changes: tuple[ResourceChange, ...]
    destroy: bool = False

    @property
    def resource_changes(self) -> tuple[ResourceChange, ...]:
        """Only the resources that change (no-ops and reads left out)."""
        return tuple(c for c in self.changes if c.action not in ("no-op", "read"))


@dataclass(frozen=True)
class ApplyResult:
    summary: ChangeSummary
    duration_s: float


def _version_tuple(text: str) -> tuple[int, int, int]:
    match = re.match(r"^v?(\d+)\.(\d+)\.(\d+)", text.strip())
    if match is None:
        raise ToolMissing(f"cannot read the Terraform version from {text!r}", hint=INSTALL_HINT)
    major, minor, patch = (int(g) for g in match.groups())
    return (major, minor, patch)


def _action(actions: Sequence[str]) -> str:
    if tuple(actions) in _REPLACE:
        return "replace"
    return actions[0] if len(actions) == 1 else "+".join(actions)


def summarise_plan_json(document: Mapping[str, Any]) -> tuple[ChangeSummary, tuple[ResourceChange, ...]]:
    """Counts and per-resource actions from the JSON of ``terraform show -json <plan>``."""
    changes: list[ResourceChange] = []
    add = change = destroy = imports = 0
    for item in document.get("resource_changes") or ():
        actions = list((item.get("change") or {}).get("actions") or ["no-op"])
        action = _action(actions)
        changes.append(
            ResourceChange(
                address=str(item.get("address", "")),
                action=action,
                resource_type=str(item.get("type", "")),
                module=item.get("module_address"),
            )
        )
        add += action in ("create", "replace")
        change += action == "update"
        destroy += action in ("delete", "replace")
        imports += bool((item.get("change") or {}).get("importing"))
    return ChangeSummary(add=add, change=change, destroy=destroy, import_=imports), tuple(changes)


class Terraform:
    """Runs ``terraform`` in one root module (a stack, or a test fixture).

    ``workdir``: the root module. ``env``: extra environment (e.g. ``TF_DATA_DIR``,
    ``GOOGLE_IMPERSONATE_SERVICE_ACCOUNT``). ``secrets``: variable name -> value, passed as
    ``TF_VAR_<name>`` and redacted everywhere. ``emit``: where Events go. ``step``: put on every
    Event so the UI can tell stacks apart. ``lock_timeout``: Terraform duration (``0s``, ``30s``).
    ``timeout``: seconds before a run is stopped (None: no limit).
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        binary: str = "terraform",
        env: Mapping[str, str] | None = None,
        secrets: Mapping[str, str] | None = None,
        emit: EventSink = discard,
        step: str | None = None,
        lock_timeout: str = DEFAULT_LOCK_TIMEOUT,
        timeout: float | None = None,
    ):
        self.workdir = Path(workdir)
        if not self.workdir.is_dir():
            raise UsageError(f"Terraform directory {self.workdir} does not exist")
        if not _LOCK_TIMEOUT.match(lock_timeout):
            raise UsageError(f"lock_timeout {lock_timeout!r} is not a Terraform duration such as 0s or 30s")
        for name in secrets or {}:
            _check_name("secret variable", name)
        self.binary = binary
        self.emit = emit
        self.step = step
        self.lock_timeout = lock_timeout
        self.timeout = timeout
        self._secret_values = [v for v in (secrets or {}).values() if v]
        self._env = {
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",  # no call home for update checks
            **(env or {}),
            **{f"TF_VAR_{name}": value for name, value in (secrets or {}).items()},
        }
        self._version: tuple[int, int, int] | None = None

    # --- version -----------------------------------------------------------------------------
    def version(self) -> tuple[int, int, int]:
        """The binary's version (cached). ToolMissing when absent or unreadable."""
        if self._version is None:
            result = self._run(["version", "-json"])
            try:
                text = str(json.loads(result.stdout)["terraform_version"])
            except (ValueError, KeyError, TypeError):
                text = result.stdout.strip().removeprefix("Terraform ").split("\n")[0]
            self._version = _version_tuple(text)
        return self._version

    def check_version(self) -> tuple[int, int, int]:
        """The version, or ToolMissing (with the install hint) when it is below MIN_VERSION."""
        found = self.version()
        if found < MIN_VERSION:
            raise ToolMissing(
                "Terraform {}.{}.{} is too old: sreplat needs {}.{}.{} or newer".format(*found, *MIN_VERSION),
                hint=INSTALL_HINT,
            )
        return found

    # --- commands ----------------------------------------------------------------------------
    def init(
        self,
        backend_config: Mapping[str, str] | None = None,
        *,
        reconfigure: bool = False,
        upgrade: bool = False,
    ) -> None:
        """``terraform init``; ``backend_config`` fills the empty ``backend "gcs" {}`` block
        (``bucket``, ``prefix``) as ``-backend-config=key=value``."""
        args = ["init", "-input=false", "-json", f"-lock-timeout={self.lock_timeout}"]
        for key, value in (backend_config or {}).items():
            _check_name("backend setting", key)
            args.append(f"-backend-config={key}={value}")
        if reconfigure:
            args.append("-reconfigure")
        if upgrade:
            args.append("-upgrade")
        self._run_streaming(args, what="init")

    def plan(
        self,
        out: str | os.PathLike[str],
        variables: Mapping[str, Any] | None = None,
        *,
        destroy: bool = False,
        refresh: bool = True,
        lock: bool = True,
    ) -> PlanResult:
        """``terraform plan -out`` with ``-detailed-exitcode``, then summarised with ``show -json``.

        ``variables`` are plain (non-secret) input values of any JSON type. ``has_changes`` comes
        from the exit code (2: changes, outputs included; 0: nothing to do). ``lock=False``: a
        look that writes nothing, not even the state lock (``sreplat plan``, drift checks).
        """
        plan_path = Path(out)
        plan_path.parent.mkdir(parents=True, exist_ok=True)
        with self._var_file(variables) as var_args:
            args = [
                "plan",
                "-input=false",
                "-json",
                "-detailed-exitcode",
                f"-lock-timeout={self.lock_timeout}",
                f"-out={plan_path.resolve()}",
                *var_args,
            ]
            if destroy:
                args.append("-destroy")
            if not refresh:
                args.append("-refresh=false")
            if not lock:
                args.append("-lock=false")
            try:
                result = self._run_streaming(args, what="plan", ok_codes=(0, 2))
            except BaseException:
                # Terraform may leave an errored plan behind: never let it be applied.
                plan_path.unlink(missing_ok=True)
                raise
        summary, changes = self.show_plan(plan_path)
        return PlanResult(
            plan_path=plan_path,
            has_changes=result.returncode == 2,
            summary=summary,
            changes=changes,
            destroy=destroy,
        )

    def show_plan(
        self, plan_path: str | os.PathLike[str]
    ) -> tuple[ChangeSummary, tuple[ResourceChange, ...]]:
        """Adds/changes/destroys and per-resource actions of a saved plan (``show -json``)."""
        result = self._run(["show", "-json", str(Path(plan_path).resolve())])
        try:
            document = json.loads(result.stdout)
        except ValueError as exc:
            raise TerraformFailed(f"terraform show -json returned unreadable output: {exc}") from exc
        return summarise_plan_json(document)

    def apply(self, plan_path: str | os.PathLike[str]) -> ApplyResult:
        """Apply exactly the saved plan (no new plan, no prompt)."""
        args = [
            "apply",
            "-input=false",
            "-json",
            f"-lock-timeout={self.lock_timeout}",
            str(Path(plan_path).resolve()),
        ]
        collector, result = self._stream(args, what="apply")
        return ApplyResult(summary=collector.summary or ChangeSummary(), duration_s=result.duration_s)

    def destroy(self, variables: Mapping[str, Any] | None = None) -> ApplyResult:
        """Destroy everything in this stack's state (the caller has asked the user already)."""
        with self._var_file(variables) as var_args:
            args = ["destroy", "-auto-approve", "-input=false", "-json", f"-lock-timeout={self.lock_timeout}"]
            collector, result = self._stream([*args, *var_args], what="destroy")
        return ApplyResult(summary=collector.summary or ChangeSummary(), duration_s=result.duration_s)

    def output(self) -> dict[str, Any]:
        """Root module outputs as ``{name: value}`` (sensitive ones included: do not log them)."""
        result = self._run(["output", "-json"])
        try:
            document = json.loads(result.stdout or "{}")
        except ValueError as exc:
            raise TerraformFailed(f"terraform output -json returned unreadable output: {exc}") from exc
        return {name: item.get("value") for name, item in document.items()}

    # --- plumbing ----------------------------------------------------------------------------
    @contextmanager
    def _var_file(self, variables: Mapping[str, Any] | None) -> Iterator[list[str]]:
        """Plain variables as a private temporary ``.tfvars.json``; yields the argv to add."""
        if not variables:
            yield []
            return
        for name in variables:
            _check_name("variable", name)
        try:
            text = json.dumps(dict(variables), sort_keys=True)
        except TypeError as exc:
            raise UsageError(f"Terraform variables must be JSON values: {exc}") from exc
        fd, path = tempfile.mkstemp(prefix="sreplat-", suffix=".tfvars.json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            yield [f"-var-file={path}"]
        finally:
            Path(path).unlink(missing_ok=True)

    def _run(self, args: list[str]) -> proc.ProcResult:
        """A short command with plain output (version, show, output). Errors -> TerraformFailed."""
        try:
            return proc.run(
                [self.binary, *args],
                cwd=self.workdir,
                env=self._env,
                timeout=self.timeout,
                secrets=self._secret_values,
                install_hint=INSTALL_HINT,
            )
        except ProcessFailed as exc:
            raise TerraformFailed(
                f"terraform {args[0]} failed in {self.workdir}: {exc.message}",
                detail=exc.stderr_tail or None,
                returncode=exc.returncode,
            ) from exc

    def _stream(
        self, args: list[str], *, what: str, ok_codes: Sequence[int] = (0,)
    ) -> tuple[StreamCollector, proc.ProcResult]:
        collector = StreamCollector()
        escaped = [json.dumps(s)[1:-1] for s in self._secret_values]

        def on_line(line: str) -> None:
            # proc redacts results, not the lines it hands to callbacks: do it here.
            clean = proc.redact(proc.redact(line, self._secret_values), escaped)
            message = parse_line(clean)
            if message is None:
                return
            collector.take(message)
            event = to_event(message, step=self.step)
            if event is not None:
                self.emit(event)

        result = proc.run(
            [self.binary, *args],
            cwd=self.workdir,
            env=self._env,
            timeout=self.timeout,
            check=False,
            on_stdout=on_line,
            secrets=self._secret_values,
            install_hint=INSTALL_HINT,
        )
        if result.returncode not in ok_codes:
            raise self._failure(what, collector, result)
        return collector, result

    def _run_streaming(
        self, args: list[str], *, what: str, ok_codes: Sequence[int] = (0,)
    ) -> proc.ProcResult:
        return self._stream(args, what=what, ok_codes=ok_codes)[1]

    def _failure(self, what: str, collector: StreamCollector, result: proc.ProcResult) -> Exception:
        lock = collector.lock_info()
        if lock is not None:
            return TerraformLockHeld(
                f"the Terraform state of {self.workdir.name} is locked: {lock.render()}",
                lock=lock,
                hint=(
                    "wait for that run to finish and retry; only if you are sure it is dead, run "
                    f"`terraform force-unlock {lock.id}` in {self.workdir}"
                ),
            )
        errors = collector.errors
        if not errors:
            tail = result.stderr.strip().splitlines()[-1:] or [f"exit code {result.returncode}"]
            return TerraformFailed(
                f"terraform {what} failed in {self.workdir}: {tail[0]}",
                detail=result.stderr or None,
                returncode=result.returncode,
            )
        first = errors[0]
        where = ", ".join(p for p in (first.location(), first.address) if p)
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        return TerraformFailed(
            f"terraform {what} failed in {self.workdir.name}: {first.summary}"
            + (f" ({where})" if where else "")
            + more,
            diagnostics=collector.diagnostics,
            detail="\n\n".join(d.render() for d in errors),
            returncode=result.returncode,
        )


def _check_name(kind: str, name: str) -> None:
    if not _NAME.match(name):
        raise UsageError(f"invalid Terraform {kind} name {name!r}: use letters, digits, _ and -")
