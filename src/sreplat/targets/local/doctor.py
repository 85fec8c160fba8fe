"""What the local target needs on this machine: the checks ``doctor`` runs (tools, the bundled
apps, free ports), and the ones bootstrap enforces before it starts anything."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path

from sreplat.errors import ToolMissing
from sreplat.pipeline.checks import Check, Finding, healthy, unhealthy
from sreplat.targets.local.context import LocalContext
from sreplat.targets.local.programs import APP_SCRIPTS, script
from sreplat.tools.local import ports, prereqs

REDIS_HINT = "install redis-server (Debian: apt-get install redis-server; `make up` does it as root)"
PROMETHEUS_HINT = "install Prometheus (Debian: apt-get install prometheus; `make up` does it as root)"
APPS_HINT = "install the bundled apps: pip install -e ./apps (`make up` does it)"
GIT_HINT = "install git (Debian: apt-get install git)"


def found(look: Callable[[], str]) -> Callable[[], Finding]:
    """A check of a prerequisite: healthy with what ``look`` found, else what is missing and how
    to fix it."""

    def check() -> Finding:
        try:
            return healthy(look())
        except ToolMissing as exc:
            return unhealthy(exc.message, hint=exc.hint)

    return check


def doctor_checks(local: LocalContext) -> list[Check]:
    running = local.supervisor.running()
    terraform_hint = "install terraform >= 1.9 (developer.hashicorp.com/terraform/install); gcp only"
    docker_hint = "install Docker (Debian: apt-get install docker.io); only image builds need it"
    checks = [
        Check("python", found(prereqs.python_version), timeout_s=5),
        Check(
            "redis-server", found(partial(prereqs.tool_version, ["redis-server", "--version"], REDIS_HINT))
        ),
        Check(
            "prometheus",
            found(
                partial(prereqs.tool_version, ["prometheus", "--version"], PROMETHEUS_HINT, minimum=(2, 30))
            ),
        ),
        Check("git", found(partial(prereqs.tool_version, ["git", "--version"], GIT_HINT))),
        Check("supervisor", found(partial(prereqs.package_version, "supervisor", "pip install supervisor"))),
        Check("apps", apps_check),
        Check(
            "terraform",
            found(partial(prereqs.tool_version, ["terraform", "version"], terraform_hint)),
            required=False,
        ),
        Check(
            "docker",
            found(partial(prereqs.tool_version, ["docker", "--version"], docker_hint)),
            required=False,
        ),
    ]
    for what, port in local.configured.ports.items():
        checks.append(Check(f"port {port}", partial(port_check, local, what, port, running), timeout_s=5))
    required = local.configured.require_signed_commits
    checks.append(Check("commit signatures", partial(signers_check, local), timeout_s=5, required=required))
    return checks


def signers_check(local: LocalContext) -> Finding:
    """The allowed-signers file deploys verify commits against (when they must be signed)."""
    from sreplat.tools.signatures import check_allowed_signers

    settings = local.configured
    found = check_allowed_signers(
        local.env.repo, settings.allowed_signers, required=settings.require_signed_commits
    )
    return healthy(found.summary) if found.healthy else unhealthy(found.summary, hint=found.hint)


def port_check(local: LocalContext, what: str, port: int, running: bool) -> Finding:
    if ports.is_free(port):
        return healthy(f"free ({what})")
    if running and port in local.live.ports.values():
        return healthy(f"in use by this environment ({what})")
    return unhealthy(f"in use by {ports.holder(port).describe()} ({what})", hint=port_hint(what))


def port_hint(what: str) -> str:
    """How to free or move the port of ``what`` (api, redis, a worker's metrics)."""
    key = {"api": "api_port", "redis": "redis_port", "prometheus": "prometheus_port"}.get(
        what, "worker_metrics_port"
    )
    return (
        f"stop what holds it, or pick another: --set {key}=N, SREPLAT_{key.upper()}=N, "
        f"or {key} in sreplat.toml"
    )


def require_tools() -> None:
    """ToolMissing unless redis-server, prometheus and the apps' console scripts are installed."""
    if shutil.which("redis-server") is None:
        raise ToolMissing("redis-server not found on PATH", hint=REDIS_HINT)
    if shutil.which("prometheus") is None:
        raise ToolMissing("prometheus not found on PATH", hint=PROMETHEUS_HINT)
    for name in APP_SCRIPTS:
        if not Path(script(name)).exists():
            raise ToolMissing(f"{name} not found", hint=APPS_HINT)


def apps_check() -> Finding:
    missing = [s for s in APP_SCRIPTS if not Path(script(s)).exists()]
    if missing:
        return unhealthy(f"{', '.join(missing)} not found", hint=APPS_HINT)
    return healthy(f"sreplat-api, sreplat-worker in {Path(script('sreplat-api')).parent}")
