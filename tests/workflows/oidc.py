"""The OIDC token GitHub Actions issues to a job, as GitHub documents it, and what Google STS
does with it (attribute mapping, then attribute condition, both CEL) — evaluated with a real CEL
implementation (cel-python).

Claims (docs.github.com/en/actions/reference/security/oidc, "OIDC token claims"): ``sub`` is
``repo:<owner>/<repo>:environment:<name>`` for a job that names an environment, else
``repo:<owner>/<repo>:pull_request`` for pull_request events, else ``repo:<owner>/<repo>:ref:<ref>``;
``repository``/``repository_owner`` are names, ``repository_id``/``repository_owner_id`` numeric
ids given as strings; ``environment`` exists only when the job names one; ``ref`` is
``refs/heads/<branch>`` (push, workflow_dispatch, schedule) or ``refs/pull/<n>/merge``
(pull_request); ``job_workflow_ref`` is ``<owner>/<repo>/.github/workflows/<file>@<ref>``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tests.workflows.workflows import load

AUTH_ACTION = "google-github-actions/auth"


@dataclass(frozen=True)
class Repository:
    name: str  # owner/repo
    id: str
    owner_id: str
    default_branch: str = "main"

    @property
    def owner(self) -> str:
        return self.name.split("/", 1)[0]


@dataclass(frozen=True)
class Run:
    """One job of one workflow, started by one event on one ref."""

    repository: Repository
    workflow: str  # file name under .github/workflows
    job: str
    event: str
    ref: str
    environment: str | None
    actor: str = "octocat"

    def claims(self) -> dict[str, Any]:
        repo = self.repository
        if self.environment is not None:
            sub = f"repo:{repo.name}:environment:{self.environment}"
        elif self.event.startswith("pull_request") and self.event != "pull_request_target":
            sub = f"repo:{repo.name}:pull_request"
        else:
            sub = f"repo:{repo.name}:ref:{self.ref}"
        claims: dict[str, Any] = {
            "iss": "https://token.actions.githubusercontent.com",
            "aud": "https://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/github-actions",
            "sub": sub,
            "repository": repo.name,
            "repository_id": repo.id,
            "repository_owner": repo.owner,
            "repository_owner_id": repo.owner_id,
            "repository_visibility": "private",
            "ref": self.ref,
            "ref_type": "branch",
            "event_name": self.event,
            "actor": self.actor,
            "actor_id": "583231",
            "workflow_ref": f"{repo.name}/.github/workflows/{self.workflow}@{self.ref}",
            "job_workflow_ref": f"{repo.name}/.github/workflows/{self.workflow}@{self.ref}",
            "run_id": "1",
            "run_attempt": "1",
            "runner_environment": "github-hosted",
        }
        if self.environment is not None:
            claims["environment"] = self.environment
        return claims

    def but(self, **changes: Any) -> Run:
        return replace(self, **changes)


def job_environment(job: Mapping[str, Any]) -> str | None:
    env = job.get("environment")
    if env is None:
        return None
    name = env["name"] if isinstance(env, dict) else env
    assert isinstance(name, str) and "${{" not in name, f"environment {name!r} is not a literal"
    return name


def uses_auth(job: Mapping[str, Any]) -> bool:
    return any(str(step.get("uses", "")).startswith(AUTH_ACTION + "@") for step in job.get("steps", []))


def may_mint_token(doc: Mapping[str, Any], job: Mapping[str, Any]) -> bool:
    permissions = job.get("permissions", doc.get("permissions", {}))
    return isinstance(permissions, dict) and permissions.get("id-token") == "write"


def trigger_refs(doc: Mapping[str, Any], repo: Repository) -> Iterator[tuple[str, str]]:
    """(event, ref) pairs the workflow's ``on:`` can start it with."""
    on = doc["on"]
    triggers = {on: None} if isinstance(on, str) else dict.fromkeys(on) if isinstance(on, list) else on
    default = f"refs/heads/{repo.default_branch}"
    for event, given in triggers.items():
        config = given or {}
        if event == "push":
            branches = config.get("branches") or [repo.default_branch]
            for branch in branches:
                assert "*" not in branch, "glob branches: list the refs to check by hand"
                yield event, f"refs/heads/{branch}"
        elif event in ("pull_request", "pull_request_target"):
            yield event, "refs/pull/7/merge" if event == "pull_request" else default
        elif event in ("workflow_dispatch", "schedule", "workflow_run"):
            yield event, default
        else:
            raise AssertionError(f"no claim model for the {event!r} event yet")


def runs_of(path: Path, repo: Repository) -> Iterator[tuple[Run, bool]]:
    """Every (job, event) run of a workflow file, and whether the job authenticates to Google."""
    doc = load(path)
    for job_name, job in doc["jobs"].items():
        for event, ref in trigger_refs(doc, repo):
            run = Run(repo, path.name, job_name, event, ref, job_environment(job))
            yield run, uses_auth(job)


# --- Google STS -------------------------------------------------------------------------------
class Sts:
    """Exchange a GitHub token through one provider: mapping, then condition (CEL)."""

    def __init__(self, mapping: Mapping[str, str], condition: str) -> None:
        import celpy

        self._env = celpy.Environment()
        self._mapping = {key: self._program(expr) for key, expr in mapping.items()}
        self._condition = self._program(condition)
        self.condition = condition

    def _program(self, expression: str) -> Any:
        return self._env.program(self._env.compile(expression))

    def attributes(self, claims: Mapping[str, Any]) -> dict[str, str] | None:
        """The mapped attributes, or None when a mapping cannot be evaluated (token rejected)."""
        import celpy

        activation = {"assertion": celpy.json_to_cel(dict(claims))}
        out: dict[str, str] = {}
        for key, program in self._mapping.items():
            try:
                out[key] = str(program.evaluate(activation))
            except celpy.CELEvalError:
                return None
        return out

    def accepts(self, claims: Mapping[str, Any]) -> bool:
        """True only when every mapping evaluates and the condition is true; an error rejects."""
        import celpy

        attributes = self.attributes(claims)
        if attributes is None:
            return False
        google = {k.split(".", 1)[1]: v for k, v in attributes.items() if k.startswith("google.")}
        attribute = {k.split(".", 1)[1]: v for k, v in attributes.items() if k.startswith("attribute.")}
        activation = {
            "assertion": celpy.json_to_cel(dict(claims)),
            "google": celpy.json_to_cel(google),
            "attribute": celpy.json_to_cel(attribute),
        }
        try:
            result = self._condition.evaluate(activation)
        except celpy.CELEvalError:
            return False
        return result is True or (isinstance(result, celpy.celtypes.BoolType) and bool(result))
