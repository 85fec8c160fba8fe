"""Errors of the Helm release manager, and the translation of Helm SDK errors into the sreplat
errors a user can act on (secrets removed from every message)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sreplat.errors import LockHeld, OperationFailed, SreplatError, UsageError
from sreplat.tools.helm.results import ReleaseInfo


class ClusterUnreachable(OperationFailed):
    """The Kubernetes API server did not answer (endpoint, network, or credentials)."""


class ReleasePending(LockHeld):
    """The release's latest revision is ``pending-*``: a deploy is running elsewhere or died
    half-way. Nothing was changed; ``recover=True`` (``--recover``) rolls back to the last
    deployed revision."""

    def __init__(self, info: ReleaseInfo, *, last_deployed: int | None):
        fix = (
            f"roll back to revision {last_deployed}"
            if last_deployed
            else "uninstall the install that never completed"
        )
        super().__init__(
            f"release {info.name} in {info.namespace} is {info.status} at revision {info.revision}",
            hint=f"if no other deploy is running, re-run with --recover to {fix}",
        )
        self.info = info
        self.last_deployed = last_deployed


def translate(exc: Exception, what: str, secrets: tuple[str, ...] = ()) -> SreplatError:
    """A helm_python error as the sreplat error a user can act on."""
    import helm_python as hp

    text = str(exc)
    for secret in secrets:
        text = text.replace(secret, "***")
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    if isinstance(
        exc,
        hp.HelmValuesError
        | hp.HelmChartLoadError
        | hp.HelmChartInvalidError
        | hp.HelmRenderError
        | hp.HelmInvalidArgError,
    ):
        return UsageError(f"{what}: {first}", detail=text)
    if isinstance(exc, hp.HelmKubeError):
        return ClusterUnreachable(
            f"{what}: cannot reach the cluster: {first}",
            hint="check the cluster endpoint and credentials (sreplat doctor)",
            detail=text,
        )
    if "another operation" in text and "in progress" in text:
        return LockHeld(
            f"{what}: {first}", hint="another deploy of this release is running; wait for it", detail=text
        )
    return OperationFailed(f"{what}: {first}", detail=text)


@contextmanager
def translated(what: str, secrets: tuple[str, ...] = ()) -> Iterator[None]:
    """Raise any Helm SDK error inside as its :func:`translate`\\ d sreplat error."""
    import helm_python as hp

    try:
        yield
    except hp.HelmError as exc:
        raise translate(exc, what, secrets) from exc
