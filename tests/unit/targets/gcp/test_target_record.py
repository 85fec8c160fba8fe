"""Issue 12: what recording a release guarantees.

- Every recorded release's images carry ``release-<sha>`` (the repository's cleanup policy keeps
  that prefix), so a release in the history — a rollback target — is never cleaned away.
- The record is written with ``ifGenerationMatch=<generation this run read>``: a record another
  writer put there meanwhile is not overwritten; the run fails and says so (Cloud Storage's 412,
  from the Storage double's documented precondition semantics).
- A Cloud Armor policy, when configured, is attached to the API's backend.
"""

from __future__ import annotations

import json

import pytest

from sreplat.errors import ExitCode
from tests.doubles.base import Request
from tests.unit.targets.gcp.world import BUCKET, ENV, PROJECT, REGION, World

pytestmark = [pytest.mark.terraform, pytest.mark.helm, pytest.mark.slow]

RECORD = f"sreplat/{ENV}/release.json"


def tags(world: World, app: str) -> dict[str, set[str]]:
    """digest → tags of the app's images in the registry."""
    images = world.registry.images[(PROJECT, REGION, f"sreplat-{ENV}", app)]
    return {digest: set(image.tags) for digest, image in images.items()}


def test_recording_tags_every_release_and_never_overwrites_another_writer(world: World) -> None:
    world.configure(cloud_armor='{"enabled": true, "process_requests_per_minute": 120}')
    assert world.cli("bootstrap").code == 0
    first = world.head()
    second = world.commit("v2")

    run = world.cli("deploy", "--sha", second)

    assert run.code == 0, run.err[-3000:]
    for app in ("api", "worker"):
        held = sorted(tags(world, app).values(), key=sorted)
        assert held == sorted([{first, f"release-{first}"}, {second, f"release-{second}"}], key=sorted)
    record_step = next(e for e in run.events("step.finish") if e["step"] == "record")
    assert record_step["message"].endswith(f"images tagged release-{second[:12]}")
    backend = world.kube.get("BackendConfig", "api", "sreplat")
    assert backend is not None and backend["spec"]["securityPolicy"]["name"] == f"sreplat-{ENV}-ingress-armor"

    # Another writer records its release while the next deploy tags its images (just before it
    # records): the deploy's conditional write fails, theirs stands.
    third = world.commit("v3")
    theirs = {"sha": "f" * 40, "images": {}, "deployed_at": "2026-01-01T00:00:00Z", "revisions": {}}

    def someone_else_records(_request: Request) -> None:
        if world.gcs.objects[BUCKET][RECORD].data != json.dumps(theirs).encode():
            world.gcs.put_object(BUCKET, RECORD, json.dumps(theirs).encode(), "application/json")

    world.registry.on_request(r"/manifests/release-", someone_else_records, method="PUT")

    raced = world.cli("deploy", "--sha", third)

    assert raced.code == ExitCode.FAILED
    assert "changed while this run worked" in raced.error["message"]
    assert f"release {third[:12]} was NOT recorded" in raced.error["message"]
    assert world.release_record() == theirs
    uploads = [r for r in world.gcs.calls("POST", "/upload/") if RECORD.encode() in r.body]
    assert uploads and uploads[-1].param("ifGenerationMatch") not in (None, "0")
