"""Security item of issue 12: the CI deployer's Kubernetes rights are the platform chart's Role in
namespace sreplat, exactly what the release manager needs.

The proof runs the real code of a deploy — the gcp target's own release manager
(``GcpContext.helm``: the Helm SDK's applies, then the one rollout wait of ``tools.kube`` that the
context injects), ``releases.upgrade_apps`` / ``rollback_apps`` with the values a ``ReleasePlan``
gives, an unready upgrade undone, and the reads of deploy's first look and of ``status`` —
against the Kubernetes API double with RBAC enforced (tests/doubles/kube_rbac.py): the Role
rendered by the chart must allow every request, and every rule it grants must be used.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from sreplat.cancel import CancelToken
from sreplat.config import Environment
from sreplat.errors import OperationFailed
from sreplat.targets.gcp import releases
from sreplat.targets.gcp.context import GcpContext
from sreplat.targets.gcp.data import FoundationOutputs
from sreplat.targets.gcp.seams import GcpSeams
from sreplat.targets.gcp.settings import GcpSettings
from sreplat.tools.gcp.gke import ClusterAccess
from sreplat.tools.helm.manager import ReleaseManager
from sreplat.tools.helm.upgrade import MAX_HISTORY
from sreplat.tools.images.pipeline import BuiltImage, BuiltImages
from tests.doubles.fixtures import KUBE_TOKEN, serve
from tests.doubles.kube_controllers import WorkloadController, container_images
from tests.doubles.kube_rbac import Attributes, RbacKubeDouble, role_allows
from tests.helm.charts import HELM_DIR, REPO, find, one, render_objects

pytestmark = [pytest.mark.helm, pytest.mark.slow]

NS = "sreplat"
DEPLOYER = "sreplat-prod-deployer@acme-sre-prod.iam.gserviceaccount.com"
REGISTRY = "europe-west1-docker.pkg.dev/acme-sre-prod/sreplat-prod"
FOUNDATION = FoundationOutputs.from_outputs(
    {
        "registry_url": REGISTRY,
        "api_hostname": "api.prod.acme.example",
        "ingress_address": "34.120.0.10",
        "ingress_address_name": "sreplat-prod-ingress",
        "dns_zone_name": "sreplat-prod",
        "ssl_policy_name": "sreplat-prod-ingress-tls",
        "security_policy_name": "sreplat-prod-ingress-armor",
        "deployer_service_account_email": DEPLOYER,
        "workload_service_accounts": {
            "api": "sreplat-prod-api@acme-sre-prod.iam.gserviceaccount.com",
            "worker": "sreplat-prod-worker@acme-sre-prod.iam.gserviceaccount.com",
        },
    }
)
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
    """What a deploy of ``sha`` gives ``app``'s chart (``ReleasePlan``, as deploy builds it)."""
    images = {a: BuiltImage(a, f"{REGISTRY}/{a}", sha, "") for a in ("api", "worker")}
    return {**releases.ReleasePlan(FOUNDATION, BuiltImages(sha, images)).values(app), **extra}


class ClusterAt(GcpContext):
    """The gcp target's context with its cluster found at the RBAC double (what the Container API
    would answer is not what this test is about); everything else — the Helm connection, the
    injected rollout wait, the Kubernetes client — is the product's."""

    def __init__(self, cluster: ClusterAccess, state_dir: Path) -> None:
        settings = GcpSettings(
            name="prod",
            target="gcp",
            project="acme-sre-prod",
            region="europe-west1",
            domain="prod.acme.example",
        )
        env = Environment("prod", settings, None, REPO, state_dir)
        super().__init__(env, GcpSeams())
        self._at = cluster

    def cluster_access(self, *, timeout: float = 30.0) -> ClusterAccess:
        return self._at


@pytest.fixture
def cluster(kube_tls: Any) -> Iterator[RbacKubeDouble]:
    double = RbacKubeDouble(tls=kube_tls[0], require_token=KUBE_TOKEN)
    controller = WorkloadController(never_ready=lambda obj: any(":bad" in i for i in container_images(obj)))
    double.reactors.append(controller)
    yield from serve(double)


@pytest.fixture
def ctx(cluster: RbacKubeDouble, kube_ca_pem: str, tmp_path: Path) -> GcpContext:
    return ClusterAt(ClusterAccess(endpoint=cluster.url, ca_pem=kube_ca_pem, token=KUBE_TOKEN), tmp_path)


def manager(ctx: GcpContext) -> AbstractContextManager[ReleaseManager]:
    """The release manager a deploy step gets (its rollout wait ends on the run's Ctrl-C)."""
    return ctx.helm(cancel=CancelToken())


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
    cluster: RbacKubeDouble, ctx: GcpContext
) -> None:
    from sreplat.tools.kube.certificates import managed_certificate
    from sreplat.tools.kube.workloads import deployment_image, workload_status

    old, new, bad = "a" * 40, "b" * 40, "bad" + "c" * 37
    # Bootstrap, as the person who runs it (cluster admin): namespace, every release.
    cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    with manager(ctx) as helm:
        platform = releases.platform_values(FOUNDATION)
        assert platform == {"deployer": {"user": DEPLOYER}}
        helm.upgrade_install("platform", HELM_DIR / "platform", platform, timeout=60)
        helm.upgrade_install("redis", HELM_DIR / "redis", {}, timeout=60)
        for app in ("api", "worker"):
            helm.upgrade_install(app, HELM_DIR / app, values(app, old), timeout=60)
        # What the deploy record names as known good after bootstrap.
        good = {app: info.revision for app in ("api", "worker") if (info := helm.status(app))}

    # From here on, every request is the deployer's.
    role, _ = deployer_rbac()
    cluster.role, cluster.user = role, DEPLOYER
    charts = {app: HELM_DIR / app for app in ("api", "worker")}
    with ctx.kube_api() as api:
        # Deploy's first look: what runs and whether it is rolled out.
        for app in ("api", "worker"):
            assert workload_status(api, NS, "Deployment", app).complete
            assert deployment_image(api, NS, app).endswith(f":{old}")
    with manager(ctx) as helm:
        # A deploy: both apps upgraded (each awaits its rollout), then rolled back as a failed
        # smoke test would.
        results = releases.upgrade_apps(
            helm, charts, {app: values(app, new) for app in charts}, timeout_s=60, recover=False, good=good
        )
        previous = {app: good.get(app) or r.previous_revision for app, r in results.items()}
        assert releases.rollback_apps(helm, {app: rev for app, rev in previous.items() if rev}, timeout_s=60)
        # Releases whose objects change: what values can switch off goes, then comes back.
        fewer = values(
            "api", new, autoscaling={"enabled": False}, replicaCount=2, monitoring={"enabled": False}
        )
        fewer["ingress"] = {"enabled": False}
        helm.upgrade_install("api", charts["api"], fewer, timeout=60)
        helm.upgrade_install("api", charts["api"], values("api", new), timeout=60)
        # Past the history limit Helm prunes the oldest revision records.
        for n in range(MAX_HISTORY):
            helm.upgrade_install("worker", charts["worker"], values("worker", f"{n:x}" * 40), timeout=60)
        # A rollout that never gets ready: the manager rolls it back itself, the other app is
        # undone by upgrade_apps.
        good = {app: info.revision for app in ("api", "worker") if (info := helm.status(app))}
        with pytest.raises(OperationFailed):
            releases.upgrade_apps(
                helm,
                charts,
                {"api": values("api", bad), "worker": values("worker", new)},
                timeout_s=3,
                recover=False,
                good=good,
            )
        assert helm.history("api") and helm.pending("worker") is None

    # What `deploy` and `status` read besides Helm.
    with ctx.kube_api() as api:
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


def test_rbac_double_maps_requests_to_attributes_as_the_api_server() -> None:
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
