"""Issue 12: one mutating run per gcp environment across machines — the lock is an object in the
state bucket (``sreplat/<env>/lock.json``), created with ``ifGenerationMatch=0`` by the real
google-cloud-storage client against the Cloud Storage double, whose preconditions follow Cloud
Storage's documented semantics.

Two real ``sreplat`` processes with their own state dirs (two machines) deploy one environment
(the first held in its image build): the second exits 4 naming the first; Ctrl-C on the first
leaves no lock behind. A failed run leaves none either; a live lock held elsewhere is respected,
an expired one is taken over.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from sreplat.errors import ExitCode
from sreplat.tools.gcp.gcs_lock import Holder
from tests.unit.targets.gcp.world import BUCKET, ENV, World

pytestmark = [pytest.mark.terraform, pytest.mark.helm, pytest.mark.slow]

LOCK = f"sreplat/{ENV}/lock.json"


def bootstrapped(world: World) -> None:
    run = world.cli("bootstrap")
    assert run.code == 0, run.err[-3000:]
    assert LOCK not in world.gcs.objects[BUCKET]  # released when the run ended


def lock_holder(world: World) -> dict[str, object] | None:
    stored = world.gcs.objects[BUCKET].get(LOCK)
    return None if stored is None else json.loads(stored.data)


def wait_for(condition: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def seed_lock(world: World, *, expires_in: float) -> None:
    now = time.time()
    holder = Holder("ci-run", "sreplat deploy", "runner", "ci-runner-7", 4242, now - 60, now + expires_in)
    world.gcs.put_object(BUCKET, LOCK, json.dumps(holder.to_json()).encode(), "application/json")


def test_a_second_process_is_refused_and_ctrl_c_releases_the_first(world: World, tmp_path: Path) -> None:
    bootstrapped(world)
    first_sha, second_sha = world.commit("v2"), world.commit("v3")
    # The first deploy's image build does not progress until the test says so.
    go_on = threading.Event()
    world.cloudbuild.on_request(r"/builds/", lambda _: go_on.wait(60), method="GET")
    out = (tmp_path / "first.out").open("w")
    first = subprocess.Popen(world.command("deploy", "--sha", first_sha), stdout=out, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: lock_holder(world) is not None)
        holder = lock_holder(world)
        assert holder is not None and holder["pid"] == first.pid and holder["purpose"] == "sreplat deploy"

        # Another machine: its own state dir (a CI runner has none of the laptop's files).
        elsewhere = {**os.environ, "SREPLAT_STATE_ROOT": str(tmp_path / "ci-runner-state")}
        command = world.command("deploy", "--sha", second_sha)
        second = subprocess.run(
            command, check=False, capture_output=True, text=True, timeout=120, env=elsewhere
        )
        assert second.returncode == ExitCode.LOCKED, second.stderr[-2000:]
        assert f"pid {first.pid}" in second.stderr and "is locked by" in second.stderr

        first.send_signal(signal.SIGINT)  # Ctrl-C while a step runs
        time.sleep(0.5)
        go_on.set()
        _, err = first.communicate(timeout=120)
    finally:
        go_on.set()
        if first.poll() is None:
            first.kill()
        out.close()
    assert first.returncode == ExitCode.INTERRUPTED, err.decode()[-2000:]
    assert lock_holder(world) is None  # Ctrl-C: released on the way out


def test_a_live_lock_is_respected_an_expired_one_taken_over_and_a_failed_run_leaves_none(
    world: World,
) -> None:
    bootstrapped(world)
    seed_lock(world, expires_in=300)  # a CI run on another machine holds it
    world.reset_calls()

    refused = world.cli("deploy", "--sha", world.commit("v2"))

    assert refused.code == ExitCode.LOCKED
    assert "runner@ci-runner-7 pid 4242" in refused.error["message"]
    assert world.kube_writes() == []  # nothing was built or changed
    assert [r for r in world.cloudbuild.calls() if r.method == "POST"] == []
    holder = lock_holder(world)
    assert holder is not None and holder["host"] == "ci-runner-7"  # left as it was

    seed_lock(world, expires_in=-5)  # that run died without releasing it
    new = world.head()

    taken = world.cli("deploy", "--sha", new)

    assert taken.code == 0, taken.err[-3000:]
    [notice] = taken.events("notice")
    expected = f"took over the expired lock gs://{BUCKET}/{LOCK} of runner@ci-runner-7 pid 4242"
    assert notice["message"].startswith(expected)
    assert lock_holder(world) is None
    record = world.release_record()
    assert record is not None and record["sha"] == new

    world.cloudbuild.fail_next = "Step #0 - docker-build: returned a non-zero code: 1"
    failed = world.cli("deploy", "--sha", world.commit("broken"))

    assert failed.code == ExitCode.FAILED
    assert lock_holder(world) is None


def test_a_run_whose_lock_is_taken_over_stops_and_leaves_the_other_runs_lock(world: World) -> None:
    """Renewals find another run's lock (ours expired while renewals failed, and it was taken
    over): the run stops as on Ctrl-C, before it changes anything more, exits 4 and leaves the
    other run's lock in place; the deploy has not upgraded anything."""
    bootstrapped(world)
    before = world.deployment_image("api")
    world.wiring["lock_renew_every_s"] = 0.3
    world.wiring_file.write_text(json.dumps(world.wiring))
    sha = world.commit("v2")
    go_on = threading.Event()  # the image build does not progress until the lock is gone
    world.cloudbuild.on_request(r"/builds/", lambda _: go_on.wait(60), method="GET")
    deploy = subprocess.Popen(
        world.command("deploy", "--sha", sha), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_for(lambda: lock_holder(world) is not None)
        seed_lock(world, expires_in=600)  # another machine's run now holds the environment
        time.sleep(1.0)  # a few renewals: the first one after the takeover notices it
        go_on.set()
        _, err = deploy.communicate(timeout=120)
    finally:
        go_on.set()
        if deploy.poll() is None:
            deploy.kill()
    message = err.decode()
    assert deploy.returncode == ExitCode.LOCKED, message[-3000:]
    assert f"the lock gs://{BUCKET}/{LOCK} was taken over by another run" in message
    holder = lock_holder(world)
    assert holder is not None and holder["host"] == "ci-runner-7"  # theirs, not deleted by ours
    assert world.deployment_image("api") == before
    record = world.release_record()
    assert record is not None and record["sha"] != sha
