"""Redis mirrored into an environment's registry by digest: an "upstream" registry stands in for
Docker Hub (nothing can be pulled here), holding a two-platform index as Docker Hub does; the
mirror lands in another real registry with the same digest, and the redis chart rendered with
the mirror's values runs ``<registry>/redis@<digest>``, never a Docker Hub name."""

from __future__ import annotations

from pathlib import Path

import pytest

from sreplat.tools.images.bases import PinnedImage
from sreplat.tools.images.mirror import mirror, mirrored_as
from sreplat.tools.images.registry import RegistryClient
from tests.helm.charts import objects_of, render_templates
from tests.support.registry_images import RegistryWriter, layer
from tests.support.registry_server import RegistryServer

pytestmark = [pytest.mark.registry, pytest.mark.helm]


def test_redis_is_mirrored_by_digest_and_the_chart_pulls_the_mirror(
    registry: RegistryServer, tmp_path: Path
) -> None:
    upstream = RegistryWriter(registry.url)
    amd = upstream.image("library/redis", "amd", layers=[layer({"usr/local/bin/redis-server": b"amd64"})])
    arm = upstream.image(
        "library/redis", "arm", layers=[layer({"usr/local/bin/redis-server": b"arm64"})], platform="arm64"
    )
    index = upstream.index("library/redis", "7.4-alpine", [(amd, "amd64"), (arm, "arm64")])
    pin = PinnedImage("redis", f"{registry.host}/library/redis:7.4-alpine", index.digest)

    with RegistryServer(tmp_path / "env-registry") as env_registry:
        prefix = f"{env_registry.host}/acme-sre-dev/sreplat-dev"
        with RegistryClient(env_registry.host) as target:
            mirrored, result = mirror(pin, registry_prefix=prefix, target=target)
            again, second = mirror(pin, registry_prefix=prefix, target=target)
        env = RegistryWriter(env_registry.url)
        served = env.get_manifest("acme-sre-dev/sreplat-dev/redis", "7.4-alpine")
        children = [
            env.get_manifest("acme-sre-dev/sreplat-dev/redis", m.digest).status_code for m in (amd, arm)
        ]

    assert mirrored == again == mirrored_as(pin, prefix)
    assert mirrored.pinned == f"{prefix}/redis@{index.digest}"
    assert served.headers["Docker-Content-Digest"] == index.digest and served.content == index.manifest
    assert children == [200, 200]
    assert result.manifests == 3 and result.blobs_streamed == len(index.blobs)
    assert second.already_there

    objects = objects_of(render_templates("redis", {"image": mirrored.helm_image()}, release="redis"))
    [statefulset] = [o for o in objects if o["kind"] == "StatefulSet"]
    images = {c["image"] for c in statefulset["spec"]["template"]["spec"]["containers"]}
    assert images == {f"{prefix}/redis@{index.digest}"}
