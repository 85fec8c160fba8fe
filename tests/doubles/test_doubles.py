"""The doubles themselves, driven by the real client libraries: if these pass, a request the
clients serialise is one the doubles understand, and the steering knobs (faults, hangs, hooks,
auth) do what the adapter tests rely on."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.doubles.artifact_registry import ArtifactRegistryDouble
from tests.doubles.base import DoubleServer, Request, Response
from tests.doubles.clouddns import CloudDnsDouble
from tests.doubles.compute import ComputeDouble
from tests.doubles.container import ContainerDouble
from tests.doubles.fixtures import GCP_TOKEN, KUBE_TOKEN, PROJECT, REGION
from tests.doubles.gcs import StorageDouble
from tests.doubles.kube import KubeDouble
from tests.doubles.kube_objects import deployment, namespace, pod, statefulset


def _token_credentials(token: str = GCP_TOKEN) -> Any:
    from google.oauth2.credentials import Credentials

    return Credentials(token=token)


def _storage(double: StorageDouble, token: str = GCP_TOKEN) -> Any:
    from google.cloud import storage

    return storage.Client(
        project=PROJECT, credentials=_token_credentials(token), client_options={"api_endpoint": double.url}
    )


def _kube_api(double: KubeDouble, ca_pem: str, token: str = KUBE_TOKEN) -> Any:
    from kubernetes import client

    config = client.Configuration(
        host=double.url,
        api_key={"authorization": token},
        api_key_prefix={"authorization": "Bearer"},
        ca_cert_data=ca_pem,
    )
    config.retries = False
    return client.ApiClient(config)


# --- the server machinery --------------------------------------------------------------------
class _Echo(DoubleServer):
    name = "echo"

    def __init__(self) -> None:
        super().__init__()
        self.route("GET", r"/things/(?P<name>[^/]+)", lambda r: Response(body={"name": r.match["name"]}))


def _get(url: str, timeout: float = 5.0) -> tuple[int, Any]:
    import httpx

    response = httpx.get(url, timeout=timeout)
    return response.status_code, response.json() if response.content else None


def test_fault_with_times_then_normal_service() -> None:
    with _Echo() as double:
        fault = double.inject(r"/things/a", status=503, times=2)
        assert _get(f"{double.url}/things/a")[0] == 503
        assert _get(f"{double.url}/things/a")[0] == 503
        assert _get(f"{double.url}/things/a") == (200, {"name": "a"})
        assert fault.hits == 2
        assert _get(f"{double.url}/things/b")[0] == 200


def test_hang_is_released_by_the_client_timeout_and_the_server_stays_usable() -> None:
    import httpx

    with _Echo() as double:
        double.inject(r"/things/slow", hang=True)
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(f"{double.url}/things/slow", timeout=0.3)
        assert _get(f"{double.url}/things/fast") == (200, {"name": "fast"})


def test_latency_applies_only_to_matching_requests() -> None:
    with _Echo() as double:
        double.set_latency(r"/things/slow", 0.3)
        started = time.monotonic()
        _get(f"{double.url}/things/slow")
        slow = time.monotonic() - started
        assert slow >= 0.3  # the delay is a floor, not a timing assertion on our code
        assert [r.path for r in double.calls()] == ["/things/slow"]


def test_unknown_route_is_recorded_as_a_problem() -> None:
    with _Echo() as double:
        status, body = _get(f"{double.url}/nothing/here")
        assert status == 501
        assert "no route for GET /nothing/here" in body["error"]["message"]
        assert double.problems == ["no route for GET /nothing/here"]


def test_on_request_hook_changes_state_deterministically() -> None:
    seen: list[str] = []

    def hook(request: Request) -> None:
        seen.append(request.path)

    with _Echo() as double:
        double.on_request(r"/things/", hook)
        _get(f"{double.url}/things/x")
        _get(f"{double.url}/things/y")
        assert seen == ["/things/x", "/things/y"]


# --- Cloud Storage ---------------------------------------------------------------------------
def test_storage_bucket_create_patch_and_objects_through_the_real_client(gcs_double: StorageDouble) -> None:
    client = _storage(gcs_double)
    assert client.lookup_bucket("tfstate-acme") is None
    bucket = client.bucket("tfstate-acme")
    bucket.versioning_enabled = True
    bucket.iam_configuration.uniform_bucket_level_access_enabled = True
    bucket.iam_configuration.public_access_prevention = "enforced"
    created = client.create_bucket(bucket, location="asia-south1")
    assert created.versioning_enabled is True
    assert created.location == "ASIA-SOUTH1"
    stored = gcs_double.buckets["tfstate-acme"]
    assert stored["iamConfiguration"]["uniformBucketLevelAccess"]["enabled"] is True
    assert stored["iamConfiguration"]["publicAccessPrevention"] == "enforced"

    created.versioning_enabled = False
    created.patch()
    assert gcs_double.buckets["tfstate-acme"]["versioning"] == {"enabled": False}
    assert gcs_double.buckets["tfstate-acme"]["metageneration"] == "2"

    blob = created.blob("envs/dev/default.tfstate")
    blob.upload_from_string(b'{"version": 4}', content_type="application/json")
    assert [b.name for b in client.list_blobs("tfstate-acme", prefix="envs/")] == ["envs/dev/default.tfstate"]
    assert created.blob("envs/dev/default.tfstate").download_as_bytes() == b'{"version": 4}'
    created.blob("envs/dev/default.tfstate").delete()
    assert gcs_double.objects["tfstate-acme"] == {}


def test_storage_refuses_a_wrong_token(gcs_double: StorageDouble) -> None:
    from google.auth.exceptions import RefreshError

    # On a 401 the authorized session tries to refresh; a bare token cannot be refreshed.
    with pytest.raises(RefreshError):
        _storage(gcs_double, token="ya29.wrong").get_bucket("anything")
    assert gcs_double.calls("GET", r"/b/anything$")


def test_storage_foreign_bucket_is_forbidden_and_its_name_taken(gcs_double: StorageDouble) -> None:
    from google.api_core import exceptions

    gcs_double.foreign_buckets.add("taken")
    client = _storage(gcs_double)
    with pytest.raises(exceptions.Forbidden):
        client.get_bucket("taken")
    with pytest.raises(exceptions.Conflict, match="not available"):
        client.create_bucket("taken", location="asia-south1")


# --- Container, Cloud DNS, Compute, Artifact Registry ----------------------------------------
def test_container_get_and_list_clusters(container_double: ContainerDouble) -> None:
    from google.cloud import container_v1

    container_double.add_cluster(PROJECT, REGION, "sreplat-dev", status="PROVISIONING", endpoint="")
    client = container_v1.ClusterManagerClient(
        credentials=_token_credentials(),
        transport="rest",
        client_options={"api_endpoint": container_double.url},
    )
    cluster = client.get_cluster(name=f"projects/{PROJECT}/locations/{REGION}/clusters/sreplat-dev")
    assert cluster.status == container_v1.Cluster.Status.PROVISIONING
    assert cluster.autopilot.enabled
    listed = client.list_clusters(parent=f"projects/{PROJECT}/locations/-")
    assert [c.name for c in listed.clusters] == ["sreplat-dev"]


def test_clouddns_zone_and_records(clouddns_double: CloudDnsDouble) -> None:
    from google.cloud import dns

    clouddns_double.add_zone(PROJECT, "sreplat-dev", "dev.acme.example")
    clouddns_double.add_record(PROJECT, "sreplat-dev", "api.dev.acme.example", "A", ["34.1.2.3"])
    client = dns.Client(
        project=PROJECT,
        credentials=_token_credentials(),
        client_options={"api_endpoint": clouddns_double.url},
    )
    assert [z.name for z in client.list_zones()] == ["sreplat-dev"]
    zone = client.zone("sreplat-dev")
    assert zone.exists()
    assert not client.zone("other").exists()
    records = {(r.name, r.record_type): r.rrdatas for r in zone.list_resource_record_sets()}
    assert records[("api.dev.acme.example.", "A")] == ["34.1.2.3"]
    assert ("dev.acme.example.", "NS") in records


def test_compute_lists_and_vanishing_resources(compute_double: ComputeDouble) -> None:
    from google.cloud import compute_v1

    compute_double.add_forwarding_rule(PROJECT, "k8s2-fs-1", ip="34.1.2.3", ingress="sreplat/api")
    compute_double.add_neg(
        PROJECT, "k8s1-neg-1", zone="asia-south1-a", network="sreplat-dev", vanish_after_lists=1
    )
    options = {"api_endpoint": compute_double.url}
    negs = compute_v1.NetworkEndpointGroupsClient(credentials=_token_credentials(), client_options=options)

    def neg_names() -> list[str]:
        return [
            n.name
            for _, scoped in negs.aggregated_list(project=PROJECT)
            for n in scoped.network_endpoint_groups
        ]

    assert neg_names() == ["k8s1-neg-1"]
    assert neg_names() == []  # listed once: GKE has deleted it
    rules = compute_v1.GlobalForwardingRulesClient(credentials=_token_credentials(), client_options=options)
    [rule] = list(rules.list(project=PROJECT))
    assert rule.I_p_address == "34.1.2.3"
    assert json.loads(rule.description) == {"kubernetes.io/ingress-name": "sreplat/api"}


def test_artifact_registry_api_tags_and_paged_images(
    artifact_registry_double: ArtifactRegistryDouble,
) -> None:
    from google.cloud import artifactregistry_v1

    sha = "a" * 40
    digests = {
        app: artifact_registry_double.push(PROJECT, REGION, "sreplat", app, sha)
        for app in ("api", "worker", "redis")
    }
    client = artifactregistry_v1.ArtifactRegistryClient(
        credentials=_token_credentials(),
        transport="rest",
        client_options={"api_endpoint": artifact_registry_double.url},
    )
    repo = f"projects/{PROJECT}/locations/{REGION}/repositories/sreplat"
    tag = client.get_tag(name=f"{repo}/packages/api/tags/{sha}")
    assert tag.version.endswith("/versions/" + digests["api"])
    images = list(client.list_docker_images(parent=repo))  # 3 images, pages of 2: the pager follows
    assert sorted(i.uri.rsplit("@", 1)[1] for i in images) == sorted(digests.values())
    assert len(artifact_registry_double.calls("GET", r"/dockerImages$")) == 2


def test_artifact_registry_v2_token_dance_with_the_registry_client(
    artifact_registry_double: ArtifactRegistryDouble,
) -> None:
    from google.oauth2.credentials import Credentials

    from sreplat.tools.images.registry import ImageRef, RegistryClient, RegistryCredentials

    digest = artifact_registry_double.push(PROJECT, REGION, "sreplat", "api", "b" * 40)
    registry = RegistryClient(
        "asia-south1-docker.pkg.dev",
        credentials=RegistryCredentials.from_google(Credentials(token=GCP_TOKEN)),
        base_url=artifact_registry_double.url,
    )
    host = "asia-south1-docker.pkg.dev"
    assert registry.manifest_digest(ImageRef.parse(f"{host}/{PROJECT}/sreplat/api:{'b' * 40}")) == digest
    assert registry.manifest_digest(ImageRef.parse(f"{host}/{PROJECT}/sreplat/api:{'c' * 40}")) is None
    assert artifact_registry_double.calls("GET", r"^/v2/token$")  # the challenge was followed


# --- Kubernetes --------------------------------------------------------------------------------
def test_kube_reads_typed_objects_over_tls_with_a_bearer_token(
    kube_double: KubeDouble, kube_ca_pem: str
) -> None:
    from kubernetes import client

    kube_double.put(namespace())
    kube_double.put(deployment("api", ready=1))
    kube_double.put(statefulset("redis"))
    kube_double.put(pod("api-1", "api"))
    kube_double.put(pod("api-2", "api", waiting_reason="CrashLoopBackOff", restarts=4))
    kube_double.put(pod("redis-0", "redis"))
    with _kube_api(kube_double, kube_ca_pem) as api:
        dep = client.AppsV1Api(api).read_namespaced_deployment("api", "sreplat")
        assert (dep.spec.replicas, dep.status.ready_replicas) == (2, 1)
        pods = client.CoreV1Api(api).list_namespaced_pod(
            "sreplat", label_selector="app.kubernetes.io/name=api"
        )
        assert [p.metadata.name for p in pods.items] == ["api-1", "api-2"]
        assert pods.items[1].status.container_statuses[0].state.waiting.reason == "CrashLoopBackOff"
        others = client.CoreV1Api(api).list_namespaced_pod(
            "sreplat", label_selector="app.kubernetes.io/name notin (api),app.kubernetes.io/part-of"
        )
        assert [p.metadata.name for p in others.items] == ["redis-0"]
        assert client.VersionApi(api).get_code().git_version == kube_double.version


def test_kube_refuses_a_wrong_token(kube_double: KubeDouble, kube_ca_pem: str) -> None:
    from kubernetes import client

    with _kube_api(kube_double, kube_ca_pem, token="nope") as api, pytest.raises(client.ApiException) as info:
        client.CoreV1Api(api).list_namespace()
    assert info.value.status == 401


def test_kube_create_patch_replace_delete_and_generation(kube_double: KubeDouble, kube_ca_pem: str) -> None:
    from kubernetes import client

    with _kube_api(kube_double, kube_ca_pem) as api:
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        body = deployment("worker")
        with pytest.raises(client.ApiException) as info:
            apps.create_namespaced_deployment("sreplat", body)
        assert info.value.status == 404  # no namespace yet
        core.create_namespace({"metadata": {"name": "sreplat"}})
        created = apps.create_namespaced_deployment("sreplat", body)
        assert created.metadata.generation == 1
        with pytest.raises(client.ApiException) as info:
            apps.create_namespaced_deployment("sreplat", body)
        assert info.value.status == 409
        patched = apps.patch_namespaced_deployment("worker", "sreplat", {"spec": {"replicas": 3}})
        assert (patched.spec.replicas, patched.metadata.generation) == (3, 2)
        assert patched.status.observed_generation == 1  # the double is no controller
        labelled = apps.patch_namespaced_deployment("worker", "sreplat", {"metadata": {"labels": {"x": "y"}}})
        assert labelled.metadata.generation == 2  # metadata-only change
        stale = patched.to_dict()
        with pytest.raises(client.ApiException) as info:
            apps.replace_namespaced_deployment("worker", "sreplat", stale)
        assert info.value.status == 409
        core.delete_namespace("sreplat")
        assert kube_double.list("Deployment") == []


def test_kube_admission_refuses_creates_and_updates_dry_runs_included(
    kube_double: KubeDouble, kube_ca_pem: str
) -> None:
    from kubernetes import client

    def at_most_two(verb: str, obj: dict[str, Any]) -> str | None:
        replicas = obj.get("spec", {}).get("replicas", 1)
        return f"{verb}: {replicas} replicas is too many" if replicas > 2 else None

    kube_double.put(namespace())
    kube_double.admission.append(at_most_two)
    with _kube_api(kube_double, kube_ca_pem) as api:
        apps = client.AppsV1Api(api)
        for dry_run in (None, "All"):
            with pytest.raises(client.ApiException) as info:
                apps.create_namespaced_deployment(
                    "sreplat", deployment("worker", replicas=3), dry_run=dry_run
                )
            assert info.value.status == 422
            message = json.loads(info.value.body)["message"]
            assert message == 'Deployment "worker" is invalid: create: 3 replicas is too many'
        apps.create_namespaced_deployment("sreplat", deployment("worker", replicas=2))
        with pytest.raises(client.ApiException) as info:
            apps.patch_namespaced_deployment("worker", "sreplat", {"spec": {"replicas": 5}})
        assert info.value.status == 422 and "update: 5 replicas" in info.value.body
    stored = kube_double.get("Deployment", "worker", "sreplat")
    assert stored is not None and stored["spec"]["replicas"] == 2
    assert kube_double.names_in("sreplat") == [("Deployment", "worker")]


def test_kube_secrets_as_helm_storage_by_label(kube_double: KubeDouble, kube_ca_pem: str) -> None:
    from kubernetes import client

    kube_double.put(namespace())
    for name, release in (("sh.helm.release.v1.api.v1", "api"), ("sh.helm.release.v1.redis.v1", "redis")):
        kube_double.put(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "helm.sh/release.v1",
                "metadata": {
                    "name": name,
                    "namespace": "sreplat",
                    "labels": {"owner": "helm", "name": release},
                },
                "data": {"release": "e30="},
            }
        )
    with _kube_api(kube_double, kube_ca_pem) as api:
        found = client.CoreV1Api(api).list_namespaced_secret("sreplat", label_selector="owner=helm,name=api")
        assert [s.metadata.name for s in found.items] == ["sh.helm.release.v1.api.v1"]
