"""What an install or upgrade would change, for ``sreplat plan``: the last deployed revision's
manifest against the one the chart renders with the new values. Nothing is changed; Secret
values are redacted."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sreplat.tools.helm.charts import check_release_name, loaded_chart, plain_values
from sreplat.tools.helm.manifests import diff_objects, parse_manifest
from sreplat.tools.helm.results import ReleaseDiff, last_deployed
from sreplat.tools.helm.session import HelmSession


def diff(
    session: HelmSession, release: str, chart_dir: Path, values: Mapping[str, Any] | None, *, ns: str
) -> ReleaseDiff:
    """See ``ReleaseManager.diff``."""
    check_release_name(release)
    plain = plain_values(values)
    with loaded_chart(chart_dir, plain) as chart:
        deployed = last_deployed(session.history(release, ns))
        config = session.config(ns)
        with session.translated(f"planning {release}"):
            if deployed is None:
                # Nothing deployed: a client-side dry run, which also works before the
                # namespace exists.
                new = config.install(chart, release, plain, namespace=ns, dry_run="client")
                old_manifest = ""
            else:
                old_manifest = str(config.status(release, revision=deployed).get("manifest", ""))
                new = config.upgrade(chart, release, plain, namespace=ns, dry_run="server", reset_values=True)
    changes = diff_objects(
        parse_manifest(old_manifest, default_namespace=ns),
        parse_manifest(str(new.get("manifest", "")), default_namespace=ns),
    )
    result = ReleaseDiff(release=release, namespace=ns, deployed_revision=deployed, changes=changes)
    session.event(
        "helm.diff",
        f"{release}: " + ", ".join(f"{n} {k}" for k, n in result.summary().items()),
        release=release,
        namespace=ns,
        deployed_revision=deployed,
        **result.summary(),
    )
    return result
