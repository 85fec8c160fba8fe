"""The cross-machine environment lock (tools/gcp/gcs_lock.py) and the generation preconditions it
stands on, with the real google-cloud-storage client against the Cloud Storage double, whose
preconditions follow the documented semantics (cloud.google.com/storage/docs/request-preconditions):
``ifGenerationMatch=0`` creates only when no live object exists, ``ifGenerationMatch=N`` writes or
deletes only generation N, anything else is 412 Precondition Failed.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from sreplat.errors import ExitCode, LockHeld
from sreplat.tools.api_calls import PreconditionFailed
from sreplat.tools.gcp import gcs_state
from sreplat.tools.gcp.access import GcpAccess
from sreplat.tools.gcp.gcs_lock import GcsLock, Holder
from tests.doubles.gcs import StorageDouble

BUCKET = "acme-sre-dev-sreplat-tfstate"
LOCK = "sreplat/dev/lock.json"


@pytest.fixture
def bucket(gcs_double: StorageDouble) -> StorageDouble:
    gcs_double.add_bucket(BUCKET, versioning=True, uniform_access=True)
    return gcs_double


def lock(access: GcpAccess, **kwargs: object) -> GcsLock:
    return GcsLock(access, BUCKET, LOCK, env="dev", **kwargs)  # type: ignore[arg-type]


def stored(double: StorageDouble) -> dict[str, object] | None:
    obj = double.objects[BUCKET].get(LOCK)
    return None if obj is None else json.loads(obj.data)


def seed_holder(double: StorageDouble, *, expires_in: float, host: str = "ci-runner-7") -> None:
    now = time.time()
    holder = Holder("other-run", "sreplat deploy", "runner", host, 4242, now - 3600, now + expires_in)
    double.put_object(BUCKET, LOCK, json.dumps(holder.to_json()).encode(), "application/json")


# --- the preconditions themselves, as the real client sends them ------------------------------
def test_generation_preconditions_follow_cloud_storage(gcp_access: GcpAccess, bucket: StorageDouble) -> None:
    first = gcs_state.write_object(gcp_access, BUCKET, "x.json", b"1", if_generation_match=0)
    with pytest.raises(PreconditionFailed):  # create-only: there is a live object
        gcs_state.write_object(gcp_access, BUCKET, "x.json", b"2", if_generation_match=0)
    second = gcs_state.write_object(gcp_access, BUCKET, "x.json", b"2", if_generation_match=first)
    assert second != first
    with pytest.raises(PreconditionFailed):  # a writer that read the first generation is refused
        gcs_state.write_object(gcp_access, BUCKET, "x.json", b"3", if_generation_match=first)
    found = gcs_state.read_versioned(gcp_access, BUCKET, "x.json")
    assert found is not None and (found.data, found.generation) == (b"2", second)
    with pytest.raises(PreconditionFailed):
        gcs_state.delete_object(gcp_access, BUCKET, "x.json", if_generation_match=first)
    assert gcs_state.delete_object(gcp_access, BUCKET, "x.json", if_generation_match=second)
    assert not gcs_state.delete_object(gcp_access, BUCKET, "x.json", if_generation_match=second)  # 404
    with pytest.raises(PreconditionFailed):  # overwriting a generation that no longer exists
        gcs_state.write_object(gcp_access, BUCKET, "x.json", b"4", if_generation_match=second)
    uploads = bucket.calls("POST", "/upload/storage/v1/b/")
    assert [u.param("ifGenerationMatch") for u in uploads] == ["0", "0", str(first), str(first), str(second)]


# --- the lock ---------------------------------------------------------------------------------
def test_a_second_holder_is_refused_with_exit_4_naming_the_first(
    gcp_access: GcpAccess, bucket: StorageDouble
) -> None:
    first = lock(gcp_access)
    first.acquire("sreplat deploy")
    try:
        holder = stored(bucket)
        assert holder is not None and holder["purpose"] == "sreplat deploy" and holder["run"] == first.run
        with pytest.raises(LockHeld) as info:
            lock(gcp_access).acquire("sreplat bootstrap")
        assert info.value.exit_code == ExitCode.LOCKED
        assert f"pid {holder['pid']}" in info.value.message and "sreplat deploy" in info.value.message
        assert stored(bucket) == holder  # the refused run changed nothing
    finally:
        first.release()
    assert stored(bucket) is None  # released: the object is gone
    second = lock(gcp_access)
    second.acquire("sreplat bootstrap")
    second.release()


def test_a_live_lock_is_never_taken_over(gcp_access: GcpAccess, bucket: StorageDouble) -> None:
    seed_holder(bucket, expires_in=300)
    before = bucket.objects[BUCKET][LOCK].generation
    with pytest.raises(LockHeld, match="runner@ci-runner-7 pid 4242"):
        lock(gcp_access).acquire("sreplat deploy")
    assert bucket.objects[BUCKET][LOCK].generation == before


def test_an_expired_lock_is_taken_over_and_released(gcp_access: GcpAccess, bucket: StorageDouble) -> None:
    seed_holder(bucket, expires_in=-1)
    stale = bucket.objects[BUCKET][LOCK].generation
    mine = lock(gcp_access)
    mine.acquire("sreplat deploy")
    holder = stored(bucket)
    assert holder is not None and holder["run"] == mine.run
    takeover = bucket.calls("POST", "/upload/storage/v1/b/")[-1]
    assert takeover.param("ifGenerationMatch") == str(stale)  # exactly the version read as expired
    mine.release()
    assert stored(bucket) is None


def test_two_runs_taking_over_one_expired_lock_one_wins(gcp_access: GcpAccess, bucket: StorageDouble) -> None:
    seed_holder(bucket, expires_in=-1)
    barrier = threading.Barrier(2, timeout=10)  # both start together
    outcomes: list[str] = []
    contenders: list[GcsLock] = []

    def contend() -> None:
        contender = lock(gcp_access)
        contenders.append(contender)
        barrier.wait()
        try:
            contender.acquire("sreplat deploy")
        except LockHeld:
            outcomes.append("refused")
        else:
            outcomes.append(contender.run)

    threads = [threading.Thread(target=contend) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    winners = [o for o in outcomes if o != "refused"]
    assert len(outcomes) == 2 and len(winners) == 1, outcomes
    holder = stored(bucket)
    assert holder is not None and holder["run"] == winners[0]
    for contender in contenders:  # the winner's renewals stop with it
        contender.release()
    assert stored(bucket) is None


def test_release_never_deletes_a_lock_taken_over_by_another_run(
    gcp_access: GcpAccess, bucket: StorageDouble
) -> None:
    mine = lock(gcp_access)
    mine.acquire("sreplat deploy")
    # Our lock expired (say the laptop slept) and a CI run took it over: a new generation.
    seed_holder(bucket, expires_in=300, host="ci-runner-9")
    mine.release()
    holder = stored(bucket)
    assert holder is not None and holder["host"] == "ci-runner-9"
    deletes = bucket.calls("DELETE")
    assert deletes and deletes[-1].param("ifGenerationMatch") is not None


def test_the_holder_renews_its_expiry_and_notices_a_takeover(
    gcp_access: GcpAccess, bucket: StorageDouble
) -> None:
    now = [1_800_000_000.0]
    mine = lock(gcp_access, ttl_s=100.0, renew_every_s=90.0, clock=lambda: now[0])
    mine.acquire("sreplat bootstrap")
    first = stored(bucket)
    now[0] += 60
    mine.renew()
    renewed = stored(bucket)
    assert first is not None and renewed is not None
    assert renewed["since"] == first["since"] and renewed["expires"] > first["expires"]
    seed_holder(bucket, expires_in=300, host="ci-runner-9")
    reasons: list[str] = []
    mine.watch(reasons.append)
    mine.renew()
    assert mine.lost
    assert reasons == [f"the lock gs://{BUCKET}/{LOCK} was taken over by another run"]
    mine.release()
    assert stored(bucket) is not None  # the other run's lock is left alone


def test_renewals_run_in_the_background_while_the_lock_is_held(
    gcp_access: GcpAccess, bucket: StorageDouble
) -> None:
    mine = lock(gcp_access, ttl_s=5.0, renew_every_s=0.2)
    mine.acquire("sreplat deploy")
    try:
        deadline = time.monotonic() + 10
        while len(bucket.calls("POST", "/upload/storage/v1/b/")) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(bucket.calls("POST", "/upload/storage/v1/b/")) >= 3  # taken, then renewed
    finally:
        mine.release()
    assert stored(bucket) is None and not mine.lost


def test_a_lock_whose_renewals_fail_until_it_expires_is_lost(
    gcp_access: GcpAccess, bucket: StorageDouble
) -> None:
    """Renewals that keep failing are retried only until the lock's own expiry: from then on
    another run may take it over, so the holder is told to stop. (403: the grant on the bucket was
    removed mid-run; a status the client does not retry, so the test does not sit through them.)"""
    mine = lock(gcp_access, ttl_s=1.5, renew_every_s=0.2)
    lost = threading.Event()
    reasons: list[str] = []
    mine.acquire("sreplat deploy")
    mine.watch(lambda reason: (reasons.append(reason), lost.set()))
    bucket.inject(r"/upload/storage/v1/b/", method="POST", status=403)
    try:
        assert lost.wait(20), "the holder never noticed its lock expired"
    finally:
        mine.release()
    assert mine.lost and reasons == [f"could not renew the lock gs://{BUCKET}/{LOCK} before it expired"]


def test_an_unreadable_lock_object_is_not_overwritten(gcp_access: GcpAccess, bucket: StorageDouble) -> None:
    bucket.put_object(BUCKET, LOCK, b"not json")
    with pytest.raises(LockHeld, match="not a lock") as info:
        lock(gcp_access).acquire("sreplat deploy")
    assert f"gcloud storage rm gs://{BUCKET}/{LOCK}" in (info.value.hint or "")
    assert bucket.objects[BUCKET][LOCK].data == b"not json"


def test_a_missing_bucket_is_created_first_when_the_caller_says_how(
    gcp_access: GcpAccess, gcs_double: StorageDouble
) -> None:
    created: list[str] = []

    def create() -> None:
        created.append(BUCKET)
        gcs_double.add_bucket(BUCKET)

    mine = lock(gcp_access, on_missing_bucket=create)
    mine.acquire("sreplat bootstrap")
    assert created == [BUCKET] and stored(gcs_double) is not None
    mine.release()
