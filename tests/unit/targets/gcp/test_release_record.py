"""The deploy record keeps what a release was built from — source SHA, image digests, base image
digests, the lock's sha256 — and the releases before it (docs/contracts.md)."""

from __future__ import annotations

from sreplat.targets.gcp.record import DeployRecord
from sreplat.tools.images.pipeline import BuildInputs, BuiltImage, BuiltImages

SHA = "a" * 40
DIGEST = "sha256:" + "b" * 64
BASES = {"BUILDER_IMAGE": "docker.io/library/debian:12-slim@sha256:" + "c" * 64}


def images(sha: str, inputs: BuildInputs | None = None) -> BuiltImages:
    built = {
        app: BuiltImage(app, f"r.example/p/{app}", sha, DIGEST, built=False) for app in ("api", "worker")
    }
    return BuiltImages(sha, built, inputs)


def test_a_record_keeps_the_build_inputs_through_json() -> None:
    record = DeployRecord.now(images(SHA, BuildInputs(BASES, "d" * 64)), {"api": 3, "worker": 4})
    document = record.to_json()

    assert document["sha"] == SHA
    assert document["images"]["api"] == {"repository": "r.example/p/api", "tag": SHA, "digest": DIGEST}
    assert document["inputs"] == {"base_images": BASES, "requirements_lock_sha256": "d" * 64}
    assert DeployRecord.from_json(document) == record


def test_a_record_written_before_inputs_were_kept_still_reads() -> None:
    old = {"sha": SHA, "images": {}, "deployed_at": "2026-01-01T00:00:00Z", "revisions": {"api": 1}}

    record = DeployRecord.from_json(old)

    assert record.images.inputs is None and record.history == ()
    assert "inputs" not in record.to_json() and "history" not in record.to_json()


def test_a_new_record_keeps_the_releases_before_it_newest_first() -> None:
    def sha(n: int) -> str:
        return f"{n:040x}"

    def release(n: int) -> DeployRecord:
        return DeployRecord.now(images(sha(n)), {"api": n})

    record = release(1)
    for n in range(2, 25):
        record = release(n).after(record)

    assert [past.sha for past in record.history[:2]] == [sha(23), sha(22)]
    assert len(record.history) == 20  # the oldest fall off
    assert record.release_of(sha(24)) == record.current
    assert record.release_of(sha(10)) is not None and record.release_of(sha(2)) is None
    # The same SHA recorded again (a redeploy) is not history of itself.
    again = release(24).after(record)
    assert again.history == record.history
    assert DeployRecord.from_json(again.to_json()) == again


def test_a_promoted_record_says_where_it_came_from() -> None:
    record = DeployRecord.now(images(SHA), {"api": 1}, promoted_from="staging")

    assert record.to_json()["promoted_from"] == "staging"
    assert DeployRecord.from_json(record.to_json()).promoted_from == "staging"
