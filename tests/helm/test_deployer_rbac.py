"""Security item of issue 12: the CI deployer's Kubernetes rights are the platform chart's Role in
namespace sreplat, exactly what the release manager needs.

The proof runs the real code of a deploy (``gcp_releases.upgrade_apps`` / ``rollback_apps``, the
Helm SDK's upgrades with its status watcher, a failed upgrade rolled back, ``kube`` status reads)
against the Kubernetes API double with RBAC enforced (tests/doubles/kube_rbac.py): the Role
rendered by the chart must allow every request, and every rule it grants must be used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sreplat.errors import OperationFailed
from sreplat.targets.gcp import releases as gcp_releases
from sreplat.tools.gcp.gke import ClusterAccess
from sreplat.tools.helm.access import KubeAccess, SdkConnection
from sreplat.tools.helm.manager import ReleaseManager
from sreplat.tools.helm.upgrade import MAX_HISTORY
from tests.doubles.fixtures import KUBE_TOKEN
from tests.doubles.kube_controllers import WorkloadController, container_images
from tests.doubles.kube_rbac import Attributes, RbacKubeDouble, role_allows
from tests.helm.charts import HELM_DIR, find, one, render_objects

pytestmark = [pytest.mark.helm, pytest.mark.slow]

NS = "sreplat"
DEPLOYER = "sreplat-prod-deployer@acme-sre-prod.iam.gserviceaccount.com"
FOUNDATION = {
    "workload_service_accounts": {
        "api": "sreplat-prod-api@acme-sre-prod.iam.gserviceaccount.com",
        "worker": "sreplat-prod-worker@acme-sre-prod.iam.gserviceaccount.com",
    },
    "api_hostname": "api.prod.acme.example",
    "ingress_address_name": "sreplat-prod-ingress",
}
REPO = "europe-west1-docker.pkg.dev/acme-sre-prod/sreplat-prod"
# Kinds a Role must never grant to CI: they would let it widen its own rights or leave the namespace.
ESCALATION = {
    "roles",
    "rolebindings",
    "clusterroles",
    "clusterrolebindings",
    "namespaces",
    "pods/exec",
    "nodes",
}


def deployer_rbac() -> tuple[dict[str, Any], dict[str, Any]]:
    objs = render_objects("platform", {"deployer": {"user": DEPLOYER}})
    return one(objs, "Role", "sreplat-deployer"), one(objs, "RoleBinding", "sreplat-deployer")


def values(app: str, sha: str, **extra: Any) -> dict[str, Any]:
    image = {"repository": f"{REPO}/{app}", "tag": sha, "digest": ""}
    return {**gcp_releases.app_values(app, foundation=FOUNDATION, image=image, sha=sha), **extra}


@pytest.fixture
def cluster(kube_tls: Any) -> Iterator[RbacKubeDouble]:
    double = RbacKubeDouble(tls=kube_tls[0], require_token=KUBE_TOKEN)
    controller = WorkloadController(never_ready=lambda obj: any(":bad" in i for i in container_images(obj)))
    double.reactors.append(controller)
    double.start()
    try:
        yield double
    finally:
        double.stop()
    assert not double.problems, double.problems


def manager(cluster: RbacKubeDouble, ca_pem: str) -> ReleaseManager:
    access = KubeAccess.from_token(server=cluster.url, token=KUBE_TOKEN, ca_pem=ca_pem)
    return ReleaseManager(SdkConnection(access, storage_driver="secret"), namespace=NS)


def test_role_is_namespaced_bound_to_the_deployer_and_cannot_escalate() -> None:
    role, binding = deployer_rbac()
    assert role["metadata"]["namespace"] == NS and binding["metadata"]["namespace"] == NS
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "sreplat-deployer",
    }
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": DEPLOYER}
    ]
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], rule
        assert not ESCALATION & set(rule["resources"]), rule
        assert (
            "escalate" not in rule["verbs"]
            and "bind" not in rule["verbs"]
            and "impersonate" not in rule["verbs"]
        )
    objs = render_objects("platform", {"deployer": {"user": DEPLOYER}})
    assert not find(objs, "ClusterRole") and not find(objs, "ClusterRoleBinding")


def test_no_role_without_a_deployer() -> None:
    objs = render_objects("platform", {})
    assert not find(objs, "Role") and not find(objs, "RoleBinding")


def test_a_deploy_needs_nothing_the_role_does_not_grant_and_the_role_grants_nothing_unused(
    cluster: RbacKubeDouble, kube_ca_pem: str
) -> None:
    from sreplat.tools.kube.workloads import managed_certificate, workload_status

    old, new, bad = "a" * 40, "b" * 40, "bad" + "c" * 37
    # Bootstrap, as the person who runs it (cluster admin): namespace, every release.
    cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    with manager(cluster, kube_ca_pem) as helm:
        helm.upgrade_install("platform", HELM_DIR / "platform", {"deployer": {"user": DEPLOYER}}, timeout=60)
        helm.upgrade_install("redis", HELM_DIR / "redis", {}, timeout=60)
        for app in ("api", "worker"):
            helm.upgrade_install(app, HELM_DIR / app, values(app, old), timeout=60)

    # From here on, every request is the deployer's.
    role, _ = deployer_rbac()
    cluster.role, cluster.user = role, DEPLOYER
    charts = {app: HELM_DIR / app for app in ("api", "worker")}
    with manager(cluster, kube_ca_pem) as helm:
        # A deploy: both apps upgraded (each waits for its rollout), then rolled back as a failed
        # smoke test would.
        results = gcp_releases.upgrade_apps(
            helm, charts, {app: values(app, new) for app in charts}, timeout_s=60, recover=False
        )
        previous = {app: r.previous_revision for app, r in results.items() if r.previous_revision}
        assert gcp_releases.rollback_apps(helm, previous, timeout_s=60)
        # Releases whose objects change: what values can switch off goes, then comes back.
        fewer = values(
            "api", new, autoscaling={"enabled": False}, replicaCount=2, monitoring={"enabled": False}
        )
        fewer["ingress"] = {"enabled": False}
        helm.upgrade_install("api", charts["api"], fewer, timeout=60)
        helm.upgrade_install("api", charts["api"], values("api", new), timeout=60)
        # Past the history limit Helm prunes the oldest revision records.
        for n in range(MAX_HISTORY):
            helm.upgrade_install("worker", charts["worker"], values("worker", f"{n:x}" * 40), wait=False)
        # A rollout that never gets ready: Helm rolls it back by itself, the other app is undone.
        with pytest.raises(OperationFailed):
            gcp_releases.upgrade_apps(
                helm,
                charts,
                {"api": values("api", bad), "worker": values("worker", new)},
                timeout_s=3,
                recover=False,
            )
        assert helm.history("api") and helm.pending("worker") is None

    # What `deploy` and `status` read besides Helm.
    with ClusterAccess(endpoint=cluster.url, ca_pem=kube_ca_pem, token=KUBE_TOKEN).api_client() as api:
        for kind, name in (("Deployment", "api"), ("Deployment", "worker"), ("StatefulSet", "redis")):
            assert workload_status(api, NS, kind, name).state != "missing"
        managed_certificate(api, NS, "api")

    assert cluster.denied == [], "\n".join(a.describe() for a in cluster.denied)
    used = {(a.api_group, a.resource, a.verb) for a in cluster.seen}
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert used <= granted
    # `list` of a watched kind is client-go's fallback when the server cannot stream a watch's
    # initial state (the double can); any other grant must have been needed.
    fallback = {(group, resource, "list") for group, resource, verb in used if verb == "watch"}
    assert granted - used <= fallback, f"granted but never needed: {sorted(granted - used - fallback)}"
    assert ("", "secrets", "delete") in used, "history pruning was not exercised"


def test_the_authorizer_refuses_what_the_role_does_not_grant() -> None:
    role, _ = deployer_rbac()
    assert role_allows(role, Attributes("patch", "apps", "deployments", NS, "api"))
    assert not role_allows(role, Attributes("patch", "apps", "deployments", "kube-system", "api"))
    assert not role_allows(role, Attributes("list", "", "secrets", "", ""))  # cluster-wide list
    assert not role_allows(role, Attributes("create", "", "pods/exec", NS, "api-1"))
    assert not role_allows(
        role, Attributes("update", "rbac.authorization.k8s.io", "roles", NS, "sreplat-deployer")
    )


def test_rbac_double_maps_requests_to_attributes_as_the_api_server(tmp_path: Path) -> None:
    from tests.doubles.base import Request
    from tests.doubles.kube_rbac import attributes_of

    def req(method: str, path: str, **query: str) -> Request:
        return Request(method, path, {k: [v] for k, v in query.items()}, {}, b"")

    assert attributes_of(req("GET", "/apis/apps/v1/namespaces/sreplat/deployments")) == Attributes(
        "list", "apps", "deployments", NS, ""
    )
    assert (
        attributes_of(req("GET", "/apis/apps/v1/namespaces/sreplat/deployments", watch="true")).verb
        == "watch"
    )
    assert attributes_of(req("GET", "/api/v1/namespaces/sreplat/pods/p1")) == Attributes(
        "get", "", "pods", NS, "p1"
    )
    assert (
        attributes_of(req("PATCH", "/api/v1/namespaces/sreplat/services/api/status")).resource
        == "services/status"
    )
    assert attributes_of(req("GET", "/api/v1/namespaces/sreplat")) == Attributes(
        "get", "", "namespaces", "", NS
    )
    assert attributes_of(req("DELETE", "/api/v1/namespaces/sreplat/secrets")).verb == "deletecollection"
    assert attributes_of(req("GET", "/apis/apps/v1")) is None
