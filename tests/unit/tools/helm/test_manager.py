"""sreplat.tools.helm.manager: the release manager on the real Helm SDK.

Most tests drive the real SDK (memory storage driver) against the Kubernetes API double of
tests/doubles/kube.py, with its workload controller marking rollouts ready, so installs,
upgrades, rollbacks and uninstalls go through client-go for real, and the manager awaits the
workloads with sreplat's one rollout wait (``tools.kube.workloads.wait_for_rollout``), as the gcp
target builds it. Stuck ``pending-*`` releases cannot be produced on demand that way; those tests
use tests/doubles/helm_config.py, a double of ``helm_python.Config`` that keeps revisions as Helm does.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from sreplat.cancel import CancelToken
from sreplat.errors import ExitCode, Interrupted, LockHeld, OperationFailed, UsageError
from sreplat.events import Event
from sreplat.tools.gcp.gke import ClusterAccess
from sreplat.tools.helm.access import KubeAccess, SdkConnection
from sreplat.tools.helm.charts import render
from sreplat.tools.helm.errors import ClusterUnreachable, ReleasePending
from sreplat.tools.helm.manager import ReleaseManager
from sreplat.tools.helm.session import ReadinessWait
from sreplat.tools.helm.upgrade import MAX_HISTORY
from sreplat.tools.kube.workloads import wait_for_rollout
from tests.doubles.base import Request
from tests.doubles.fixtures import KUBE_TOKEN
from tests.doubles.helm_config import FakeConnection, FakeHelmConfig, revision
from tests.doubles.kube import KubeDouble
from tests.doubles.kube_controllers import WorkloadController
from tests.helm.charts import CHARTS, HELM_DIR, objects_of, render_templates

pytestmark = pytest.mark.helm

NS = "sreplat"
TOKEN = "s3cr3t-bearer-token"  # a test credential, checked never to leak
WRITES = ("POST", "PUT", "PATCH", "DELETE")


@pytest.fixture
def workloads(kube_double: KubeDouble) -> WorkloadController:
    """Workloads become ready as soon as they are applied, unless ``never_ready`` says not."""
    controller = WorkloadController()
    kube_double.reactors.append(controller)
    return controller


@pytest.fixture
def cluster(kube_double: KubeDouble, workloads: WorkloadController) -> KubeDouble:
    """The API double with its workload controller."""
    return kube_double


@pytest.fixture
def events() -> list[Event]:
    return []


def rollout_wait(cluster: KubeDouble, ca_pem: str, cancel: CancelToken | None = None) -> ReadinessWait:
    """The readiness wait the gcp target gives the manager, on the API double."""
    access = ClusterAccess(endpoint=cluster.url, ca_pem=ca_pem, token=KUBE_TOKEN)

    def wait(workloads: Sequence[tuple[str, str]], namespace: str, timeout: float) -> None:
        api = access.api_client()
        try:
            wait_for_rollout(api, namespace, workloads, timeout=timeout, poll_interval=0.05, cancel=cancel)
        finally:
            api.close()

    return wait


@pytest.fixture
def manager(cluster: KubeDouble, kube_ca_pem: str, events: list[Event]) -> Iterator[ReleaseManager]:
    access = KubeAccess.from_token(server=cluster.url, token=KUBE_TOKEN, ca_pem=kube_ca_pem)
    connection = SdkConnection(access, storage_driver="memory")
    wait = rollout_wait(cluster, kube_ca_pem)
    with ReleaseManager(connection, namespace=NS, on_event=events.append, await_ready=wait) as m:
        yield m


def kinds(events: list[Event]) -> list[str]:
    return [e.kind for e in events]


def redis_password(cluster: KubeDouble) -> str:
    secret = cluster.get("Secret", "redis", NS)
    assert secret is not None
    return base64.b64decode(secret["data"]["redis-password"]).decode()


def writes(cluster: KubeDouble) -> list[Request]:
    return [r for r in cluster.calls() if r.method in WRITES]


# --- install, upgrade, history ------------------------------------------------------------------


def test_install_then_upgrade_keeps_history_and_the_redis_password(
    manager: ReleaseManager, cluster: KubeDouble, events: list[Event]
) -> None:
    first = manager.upgrade_install("redis", HELM_DIR / "redis", {}, timeout=60)
    assert (first.action, first.release.revision, first.release.status) == ("installed", 1, "deployed")
    assert first.previous_revision is None and first.recovered_from is None
    assert "redis-cli" in first.notes
    password = redis_password(cluster)
    assert password.isalnum() and len(password) == 32
    # Server-side apply through the real client: the objects are in the API server.
    assert ("StatefulSet", "redis") in cluster.names_in(NS)

    second = manager.upgrade_install(
        "redis", HELM_DIR / "redis", {"persistence": {"size": "9Gi"}}, timeout=60
    )
    assert (second.action, second.release.revision, second.previous_revision) == ("upgraded", 2, 1)
    sts = cluster.get("StatefulSet", "redis", NS)
    assert sts is not None
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "9Gi"
    assert redis_password(cluster) == password, "an upgrade must keep the generated password"

    assert [(r.revision, r.status) for r in manager.history("redis")] == [(1, "superseded"), (2, "deployed")]
    status = manager.status("redis")
    assert status is not None and status.revision == 2 and status.chart == "redis"
    assert manager.pending("redis") is None
    assert kinds(events) == [
        "helm.install.started",
        "helm.install.done",
        "helm.upgrade.started",
        "helm.upgrade.done",
    ]
    assert events[1].data["revision"] == 1 and events[3].data["revision"] == 2


def test_unknown_release_has_no_history(manager: ReleaseManager) -> None:
    assert manager.history("nope") == ()
    assert manager.status("nope") is None
    assert manager.pending("nope") is None


def test_uninstall_keeps_secret_so_a_reinstall_finds_the_same_password(
    manager: ReleaseManager, cluster: KubeDouble, events: list[Event]
) -> None:
    manager.upgrade_install("redis", HELM_DIR / "redis", timeout=60)
    password = redis_password(cluster)
    gone = manager.uninstall("redis", timeout=60)
    assert gone is not None and gone.status == "uninstalled"
    assert cluster.names_in(NS) == [("Secret", "redis")]  # helm.sh/resource-policy: keep
    assert manager.history("redis") == ()
    assert manager.uninstall("redis") is None
    assert kinds(events)[-1] == "helm.uninstall.skipped"
    again = manager.upgrade_install("redis", HELM_DIR / "redis", timeout=60)
    assert again.action == "installed"
    assert redis_password(cluster) == password


def test_explicit_rollback(manager: ReleaseManager, cluster: KubeDouble) -> None:
    manager.upgrade_install("api", HELM_DIR / "api", {"image": {"tag": "v1"}}, timeout=60)
    manager.upgrade_install("api", HELM_DIR / "api", {"image": {"tag": "v2"}}, timeout=60)
    back = manager.rollback("api", 1, timeout=60)
    assert (back.revision, back.status) == (3, "deployed")
    deployment = cluster.get("Deployment", "api", NS)
    assert deployment is not None
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "sreplat/api:v1"
    with pytest.raises(UsageError):
        manager.rollback("never-installed")


# --- failures ---------------------------------------------------------------------------------


def api_image(cluster: KubeDouble) -> str:
    deployment = cluster.get("Deployment", "api", NS)
    assert deployment is not None
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


@pytest.mark.slow
def test_upgrade_that_never_becomes_ready_is_rolled_back(
    manager: ReleaseManager, cluster: KubeDouble, workloads: WorkloadController, events: list[Event]
) -> None:
    manager.upgrade_install("api", HELM_DIR / "api", {"image": {"tag": "v1"}}, timeout=60)
    workloads.never_ready = lambda obj: obj["kind"] == "Deployment" and ":v2" in json.dumps(obj["spec"])
    with pytest.raises(OperationFailed) as caught:
        manager.upgrade_install("api", HELM_DIR / "api", {"image": {"tag": "v2"}}, timeout=2)
    assert "not ready in time" in caught.value.message
    assert "rolled back: revision 3 now runs what revision 1 ran" in caught.value.message
    assert [(r.revision, r.status) for r in manager.history("api")][-1] == (3, "deployed")
    assert api_image(cluster) == "sreplat/api:v1"
    failed = [e for e in events if e.kind == "helm.failed"]
    assert failed and failed[0].data["rolled_back"] is True


def test_an_upgrade_the_cluster_rejects_is_rolled_back(manager: ReleaseManager, cluster: KubeDouble) -> None:
    manager.upgrade_install("api", HELM_DIR / "api", {"image": {"tag": "v1"}}, timeout=60)

    def no_v2(_verb: str, obj: dict[str, Any]) -> str | None:
        return "v2 refused by the test" if ":v2" in json.dumps(obj.get("spec", {})) else None

    cluster.admission.append(no_v2)
    with pytest.raises(OperationFailed) as caught:
        manager.upgrade_install("api", HELM_DIR / "api", {"image": {"tag": "v2"}}, timeout=30)
    assert "upgrade of api failed" in caught.value.message
    assert "rolled back: revision 3 now runs what revision 1 ran" in caught.value.message
    assert [(r.revision, r.status) for r in manager.history("api")] == [
        (1, "superseded"),
        (2, "failed"),
        (3, "deployed"),
    ]
    assert api_image(cluster) == "sreplat/api:v1"


def test_ctrl_c_ends_the_wait_at_once_and_a_rerun_goes_back_to_the_good_revision(
    cluster: KubeDouble, kube_ca_pem: str, workloads: WorkloadController
) -> None:
    run = [CancelToken()]  # the current run's token: a new run, a new token

    def wait(workloads_: Sequence[tuple[str, str]], namespace: str, timeout: float) -> None:
        rollout_wait(cluster, kube_ca_pem, run[-1])(workloads_, namespace, timeout)

    access = KubeAccess.from_token(server=cluster.url, token=KUBE_TOKEN, ca_pem=kube_ca_pem)
    with ReleaseManager(SdkConnection(access, storage_driver="memory"), namespace=NS, await_ready=wait) as m:
        m.upgrade_install("api", HELM_DIR / "api", {"image": {"tag": "v1"}}, timeout=60)
        workloads.never_ready = lambda obj: obj["kind"] == "Deployment" and ":bad" in json.dumps(obj["spec"])
        threading.Timer(0.5, run[-1].cancel).start()
        started = time.monotonic()
        with pytest.raises(Interrupted, match="revision 2 is applied but not ready yet"):
            m.upgrade_install("api", HELM_DIR / "api", {"image": {"tag": "bad"}}, timeout=600)
        assert time.monotonic() - started < 10  # the cancel token, not the 600 s timeout, ended it
        assert api_image(cluster) == "sreplat/api:bad"  # left as applied: stopping is immediate

        # Run again: revision 2 is now the one before, but the caller knows revision 1 was good.
        run.append(CancelToken())
        with pytest.raises(OperationFailed, match="now runs what revision 1 ran"):
            m.upgrade_install("api", HELM_DIR / "api", {"image": {"tag": "bad"}}, timeout=2, rollback_to=1)
    assert api_image(cluster) == "sreplat/api:v1"


def test_install_the_cluster_rejects_leaves_nothing(manager: ReleaseManager, cluster: KubeDouble) -> None:
    def no_deployments(_verb: str, obj: dict[str, Any]) -> str | None:
        return "rejected by the test" if obj["kind"] == "Deployment" else None

    cluster.admission.append(no_deployments)
    with pytest.raises(OperationFailed) as caught:
        manager.upgrade_install("api", HELM_DIR / "api", timeout=30)
    assert "install of api failed" in caught.value.message
    assert "nothing is left installed" in caught.value.message
    assert "rejected by the test" in (caught.value.detail or "")
    assert manager.history("api") == ()
    assert cluster.names_in(NS) == []


@pytest.mark.parametrize(
    ("release", "chart", "values", "complaint"),
    [
        ("api", "api", {"replicas": 3}, "values.schema.json"),
        ("api", "api", {"image": {"digest": "sha256:short"}}, "digest"),
        ("Bad_Name", "api", {}, "invalid release name"),
        ("api", "no-such-chart", {}, "not a chart directory"),
        ("api", "api", {"when": object()}, "JSON-serialisable"),
    ],
)
def test_bad_input_is_a_usage_error_and_touches_nothing(
    manager: ReleaseManager,
    cluster: KubeDouble,
    release: str,
    chart: str,
    values: dict[str, Any],
    complaint: str,
) -> None:
    with pytest.raises(UsageError) as caught:
        manager.upgrade_install(release, HELM_DIR / chart, values)
    assert complaint in caught.value.message
    assert caught.value.exit_code == ExitCode.USAGE
    assert cluster.calls() == [], "nothing may reach the cluster before the input is checked"


def test_unreachable_cluster_is_reported_without_the_token(events: list[Event], kube_ca_pem: str) -> None:
    access = KubeAccess.from_token(server="https://127.0.0.1:9", token=TOKEN, ca_pem=kube_ca_pem)
    with (
        ReleaseManager(SdkConnection(access, storage_driver="memory"), namespace=NS) as m,
        pytest.raises(ClusterUnreachable) as caught,
    ):
        m.history("api")
    assert "cannot reach the cluster" in caught.value.message
    assert caught.value.hint and "credentials" in caught.value.hint
    assert TOKEN not in str(caught.value.message) + str(caught.value.detail)


# --- dry runs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("chart", CHARTS)
def test_client_dry_run_install_needs_no_cluster(chart: str, events: list[Event], kube_ca_pem: str) -> None:
    """Memory storage + client-side dry run: rendered and validated by Helm's install action with
    nothing listening at the API server address."""
    access = KubeAccess.from_token(server="https://127.0.0.1:9", token=TOKEN, ca_pem=kube_ca_pem)
    connection = SdkConnection(access, storage_driver="memory")
    with ReleaseManager(connection, namespace=NS, on_event=events.append) as m:
        result = m.upgrade_install(chart, HELM_DIR / chart, {}, dry_run=True)
    assert result.dry_run and result.action == "installed"
    assert result.release.status == "pending-install" and result.release.revision == 1
    applied = {(o["kind"], o["metadata"]["name"]) for o in objects_of({"m": result.manifest})}
    rendered = {(o["kind"], o["metadata"]["name"]) for o in objects_of(render_templates(chart))}
    assert applied == rendered
    assert all(e.data.get("dry_run") for e in events)


def test_client_dry_run_upgrade_stores_and_applies_nothing(
    manager: ReleaseManager, cluster: KubeDouble
) -> None:
    manager.upgrade_install("api", HELM_DIR / "api", {"image": {"tag": "v1"}}, timeout=60)
    before = len(writes(cluster))
    result = manager.upgrade_install("api", HELM_DIR / "api", {"image": {"tag": "v2"}}, dry_run=True)
    assert (result.action, result.release.revision, result.previous_revision) == ("upgraded", 2, 1)
    assert "sreplat/api:v2" in result.manifest
    assert len(writes(cluster)) == before
    assert [r.revision for r in manager.history("api")] == [1]


# --- plan: diff -----------------------------------------------------------------------------------


def test_diff_before_install_adds_everything_and_hides_secrets(
    manager: ReleaseManager, cluster: KubeDouble
) -> None:
    plan = manager.diff("redis", HELM_DIR / "redis", {})
    assert plan.deployed_revision is None
    assert {c.change for c in plan.changes} == {"added"}
    assert {c.ref.kind for c in plan.changes} >= {"StatefulSet", "Secret", "Service", "NetworkPolicy"}
    secret = next(c for c in plan.changes if c.ref.kind == "Secret")
    assert "redis-password: <redacted, changed>" in secret.diff
    assert writes(cluster) == [], "a plan changes nothing"


def test_diff_after_install_shows_only_real_changes(
    manager: ReleaseManager, cluster: KubeDouble, events: list[Event]
) -> None:
    manager.upgrade_install("redis", HELM_DIR / "redis", {}, timeout=60)
    password = redis_password(cluster)
    before = len(writes(cluster))
    same = manager.diff("redis", HELM_DIR / "redis", {})
    assert same.deployed_revision == 1
    # The dry run is cluster-aware: lookup finds the live Secret, so the password is unchanged.
    assert not same.has_changes, [str(c.ref) for c in same.changes]
    changed = manager.diff("redis", HELM_DIR / "redis", {"config": {"appendfsync": "always"}})
    refs = {(c.ref.kind, c.ref.name, c.change) for c in changed.changes}
    assert refs == {("ConfigMap", "redis", "changed"), ("StatefulSet", "redis", "changed")}
    config_diff = next(c.diff for c in changed.changes if c.ref.kind == "ConfigMap")
    assert "-    appendfsync everysec" in config_diff and "+    appendfsync always" in config_diff
    assert changed.summary() == {"added": 0, "removed": 0, "changed": 2}
    everything = " ".join(c.diff for plan in (same, changed) for c in plan.changes)
    assert password not in everything and base64.b64encode(password.encode()).decode() not in everything
    assert len(writes(cluster)) == before
    assert [r.revision for r in manager.history("redis")] == [1]
    assert events[-1].kind == "helm.diff" and events[-1].data["changed"] == 2


# --- connection ---------------------------------------------------------------------------------


def test_kubeconfig_reaches_helm_through_memory_not_disk(
    cluster: KubeDouble, kube_ca_pem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import helm_python

    seen: list[dict[str, Any]] = []
    real = helm_python.Config

    def recording(**kwargs: Any) -> Any:
        seen.append(kwargs)
        path = kwargs["kubeconfig_path"]
        # Read while it is open: it is the kubeconfig, in an anonymous memory file.
        assert path.startswith("/proc/self/fd/")
        assert os.readlink(path).startswith("/memfd:")
        assert json.loads(Path(path).read_text())["clusters"][0]["cluster"]["server"] == cluster.url
        return real(**kwargs)

    monkeypatch.setattr(helm_python, "Config", recording)
    access = KubeAccess.from_token(server=cluster.url, token=KUBE_TOKEN, ca_pem=kube_ca_pem)
    m = ReleaseManager(SdkConnection(access, storage_driver="memory"), namespace=NS)
    assert m.history("api") == ()
    m.history("api", namespace="other")  # one Config per namespace, same memory file
    assert [s["namespace"] for s in seen] == [NS, "other"]
    assert all("kubeconfig_content" not in s for s in seen)
    fd = int(seen[0]["kubeconfig_path"].rsplit("/", 1)[1])
    m.close()
    with pytest.raises(OSError):
        os.fstat(fd)


def test_kube_access_checks_its_input_and_hides_the_token() -> None:
    ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    access = KubeAccess.from_token(server="https://10.0.0.1", token=TOKEN, ca_pem=ca)
    assert TOKEN not in repr(access)
    doc = json.loads(access.kubeconfig)
    assert base64.b64decode(doc["clusters"][0]["cluster"]["certificate-authority-data"]).decode() == ca
    assert doc["users"][0]["user"]["token"] == TOKEN
    # GKE's DNS-based endpoint: no CA (the system's trust store), and the name to verify.
    dns = KubeAccess.from_token(
        server="https://gke-1.asia-south1.gke.goog",
        token=TOKEN,
        ca_pem=None,
        server_name="gke-1.asia-south1.gke.goog",
    )
    cluster = json.loads(dns.kubeconfig)["clusters"][0]["cluster"]
    assert cluster == {
        "server": "https://gke-1.asia-south1.gke.goog",
        "tls-server-name": "gke-1.asia-south1.gke.goog",
    }
    for kwargs, complaint in [
        ({"server": "https://10.0.0.1", "token": "", "ca_pem": ca}, "empty bearer token"),
        ({"server": "https://10.0.0.1", "token": TOKEN, "ca_pem": "not a cert"}, "not a PEM"),
        ({"server": "http://10.0.0.1", "token": TOKEN, "ca_pem": ca}, "https://"),
    ]:
        with pytest.raises(UsageError) as caught:
            KubeAccess.from_token(**kwargs)
        assert complaint in caught.value.message


def test_offline_render_matches_the_chart() -> None:
    manifest = render(HELM_DIR / "worker", {"image": {"tag": "abc"}}, release="worker")
    assert manifest.startswith("---\n# Source: worker/templates/")
    assert "NOTES" not in manifest
    objs = objects_of({"m": manifest})
    assert {o["kind"] for o in objs} == {
        "Deployment",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "PodMonitoring",
        "ServiceAccount",
    }
    with pytest.raises(UsageError):
        render(HELM_DIR / "worker", {"nope": 1}, release="worker")


# --- stuck releases (double of helm_python.Config) ------------------------------------------------


def double_manager(config: FakeHelmConfig, events: list[Event]) -> ReleaseManager:
    return ReleaseManager(FakeConnection(config), namespace=NS, on_event=events.append)


def test_pending_upgrade_is_reported_and_nothing_is_touched(events: list[Event]) -> None:
    config = FakeHelmConfig(
        releases={
            "api": [
                revision("api", 1, "superseded"),
                revision("api", 2, "deployed"),
                revision("api", 3, "pending-upgrade"),
            ]
        }
    )
    m = double_manager(config, events)
    stuck = m.pending("api")
    assert stuck is not None and (stuck.revision, stuck.status) == (3, "pending-upgrade")
    with pytest.raises(ReleasePending) as caught:
        m.upgrade_install("api", HELM_DIR / "api", {})
    err = caught.value
    assert isinstance(err, LockHeld) and err.exit_code == ExitCode.LOCKED
    assert (err.info.revision, err.last_deployed) == (3, 2)
    assert "pending-upgrade at revision 3" in err.message
    assert err.hint is not None and "--recover" in err.hint and "revision 2" in err.hint
    assert config.writes() == []
    assert [e.data["revision"] for e in events if e.kind == "helm.pending"] == [3, 3]


def test_without_the_check_helm_itself_would_refuse() -> None:
    """The double behaves like Helm: a write on a pending release fails; the manager maps that
    race (the release became pending after its check) to LockHeld."""
    config = FakeHelmConfig(releases={"api": [revision("api", 1, "deployed")]})

    class Racing(FakeHelmConfig):
        def upgrade(
            self, chart: Any, name: str, values: dict[str, Any] | None = None, **kw: Any
        ) -> dict[str, Any]:
            self.releases[name].append(revision(name, 2, "pending-upgrade"))
            return super().upgrade(chart, name, values, **kw)

    racing = Racing(releases=config.releases)
    with pytest.raises(LockHeld) as caught:
        double_manager(racing, []).upgrade_install("api", HELM_DIR / "api", {})
    assert "another operation" in caught.value.message


@pytest.mark.parametrize("stuck_status", ["pending-upgrade", "pending-rollback"])
def test_recover_rolls_back_to_the_last_deployed_revision(stuck_status: str, events: list[Event]) -> None:
    config = FakeHelmConfig(
        releases={
            "api": [
                revision("api", 1, "superseded"),
                revision("api", 2, "deployed"),
                revision("api", 3, stuck_status),
            ]
        }
    )
    result = double_manager(config, events).upgrade_install(
        "api", HELM_DIR / "api", {}, recover=True, timeout=30
    )
    assert config.writes() == ["rollback", "upgrade"]
    revisions = config.releases["api"]
    assert [(r["revision"], r["status"]) for r in revisions] == [
        (1, "superseded"),
        (2, "superseded"),
        (3, "failed"),  # the stuck one
        (4, "superseded"),  # the recovery: what revision 2 ran
        (5, "deployed"),
    ]
    assert revisions[3]["manifest"] == revisions[1]["manifest"]
    assert result.recovered_from is not None and result.recovered_from.revision == 3
    assert (result.action, result.previous_revision, result.release.revision) == ("upgraded", 4, 5)
    recover = next(e for e in events if e.kind == "helm.recover")
    assert recover.data == {
        "release": "api",
        "namespace": NS,
        "revision": 3,
        "action": "rollback",
        "to_revision": 2,
    }


def test_recover_of_a_never_deployed_install_uninstalls_it_first(events: list[Event]) -> None:
    config = FakeHelmConfig(releases={"api": [revision("api", 1, "pending-install")]})
    m = double_manager(config, events)
    with pytest.raises(ReleasePending) as caught:
        m.upgrade_install("api", HELM_DIR / "api", {})
    assert caught.value.last_deployed is None and "uninstall" in (caught.value.hint or "")
    assert config.writes() == []
    result = m.upgrade_install("api", HELM_DIR / "api", {}, recover=True)
    assert config.writes() == ["uninstall", "install"]
    assert result.action == "installed" and result.release.revision == 1


def test_a_dry_run_never_recovers() -> None:
    config = FakeHelmConfig(
        releases={"api": [revision("api", 1, "deployed"), revision("api", 2, "pending-upgrade")]}
    )
    with pytest.raises(ReleasePending):
        double_manager(config, []).upgrade_install("api", HELM_DIR / "api", {}, recover=True, dry_run=True)
    assert config.writes() == []


def test_failed_latest_revision_is_upgraded_not_reinstalled() -> None:
    config = FakeHelmConfig(
        releases={"api": [revision("api", 1, "superseded"), revision("api", 2, "failed")]}
    )
    result = double_manager(config, []).upgrade_install("api", HELM_DIR / "api", {})
    assert config.writes() == ["upgrade"]
    assert (result.action, result.previous_revision) == ("upgraded", 2)


def test_an_upgrade_with_no_values_drops_the_old_ones_and_history_is_bounded() -> None:
    old = [{**revision("api", n, "superseded"), "config": {"replicas": 3}} for n in range(1, 12)]
    old[-1]["status"] = "deployed"
    config = FakeHelmConfig(releases={"api": old})
    double_manager(config, []).upgrade_install("api", HELM_DIR / "api", {})
    revisions = config.releases["api"]
    assert revisions[-1]["config"] == {}  # Helm would have reused {"replicas": 3} without reset
    assert len(revisions) == MAX_HISTORY
    assert revisions[-1]["revision"] == 12


def test_history_that_never_deployed_is_replaced_by_a_fresh_install() -> None:
    config = FakeHelmConfig(releases={"api": [revision("api", 1, "failed")]})
    result = double_manager(config, []).upgrade_install("api", HELM_DIR / "api", {})
    assert config.writes() == ["uninstall", "install"]
    install = next(c for c in config.calls if c[0] == "install")
    # Issue 12: the namespace (helm/namespace.yaml, Pod Security labels) is applied before any
    # release; an install never creates it (the CI deployer's Role could not).
    assert "wait" not in install[2] and install[2]["create_namespace"] is False
    assert result.action == "installed"
    assert [(r["revision"], r["status"]) for r in config.releases["api"]] == [(1, "deployed")]


def test_close_releases_every_config() -> None:
    config = FakeHelmConfig(releases={})
    m = double_manager(config, [])
    m.history("api")
    m.close()
    assert config.closed
