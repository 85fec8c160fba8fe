"""Policy over the rendered objects of every scenario: Pod Security Standards "restricted" plus a
read-only root filesystem, UID 1000, requests and limits fit for Autopilot, probes, graceful
stops, the GKE wiring, and network flows — exactly the allowed ones, nothing more."""

from __future__ import annotations

import math
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from tests.helm.charts import Scenario, find, one, pod_spec, rendered, scenarios, workloads

pytestmark = pytest.mark.helm

# Every scenario that runs pods: the apps, and the platform's observability pieces.
APP_SCENARIOS = [s for s in scenarios() if s.chart != "platform" or s.name == "gke"]
# Volume types the restricted profile allows.
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
# Load balancer source ranges documented for the global external Application Load Balancer.
LB_RANGES = {"35.191.0.0/16", "130.211.0.0/22", "2600:2d00:1:b029::/64", "2600:2d00:1:1::/64"}


def pods(scenario: Scenario) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for workload in workloads(rendered(scenario)):
        yield workload, pod_spec(workload)


def quantity(value: str | int) -> float:
    """Kubernetes quantity → base units (cores or bytes)."""
    text = str(value)
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}
    for suffix, factor in sorted(units.items(), key=lambda kv: -len(kv[0])):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


# --- pod security ----------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", APP_SCENARIOS, ids=lambda s: s.id)
def test_pods_meet_restricted_profile_with_read_only_root(scenario: Scenario) -> None:
    found = list(pods(scenario))
    assert found, "no workload rendered"
    for workload, spec in found:
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        for field in ("hostNetwork", "hostPID", "hostIPC", "hostUsers"):
            assert field not in spec or (field == "hostUsers" and spec[field] is False), f"{where}: {field}"
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True, where
        assert (pod_sc["runAsUser"], pod_sc["runAsGroup"], pod_sc["fsGroup"]) == (1000, 1000, 1000), where
        assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault", where
        assert "sysctls" not in pod_sc, where
        assert spec["automountServiceAccountToken"] is False, where
        for volume in spec.get("volumes", []):
            types = set(volume) - {"name"}
            assert types <= RESTRICTED_VOLUMES, f"{where}: volume {volume['name']} is {types}"
        for container in spec["containers"] + spec.get("initContainers", []):
            sc = container["securityContext"]
            cwhere = f"{where} container {container['name']}"
            assert sc["allowPrivilegeEscalation"] is False, cwhere
            assert sc.get("privileged", False) is False, cwhere
            assert sc["capabilities"]["drop"] == ["ALL"], cwhere
            assert not sc["capabilities"].get("add"), cwhere
            assert sc["readOnlyRootFilesystem"] is True, cwhere
            assert sc.get("runAsNonRoot", True) is True and sc.get("runAsUser", 1000) == 1000, cwhere
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", cwhere
            assert "procMount" not in sc, cwhere
            assert all("hostPort" not in p for p in container.get("ports", [])), cwhere


@pytest.mark.parametrize("scenario", APP_SCENARIOS, ids=lambda s: s.id)
def test_only_tmp_and_data_are_writable(scenario: Scenario) -> None:
    for workload, spec in pods(scenario):
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        claims = {c["metadata"]["name"] for c in workload["spec"].get("volumeClaimTemplates", [])}
        for container in spec["containers"]:
            writable = set()
            for mount in container.get("volumeMounts", []):
                if mount.get("readOnly"):
                    continue
                if mount["name"] in claims:
                    writable.add(mount["mountPath"])
                    continue
                volume = volumes[mount["name"]]
                assert "emptyDir" in volume, f"{mount['name']} is writable but not an emptyDir"
                assert "sizeLimit" in volume["emptyDir"], f"emptyDir {mount['name']} has no sizeLimit"
                writable.add(mount["mountPath"])
            expected = {"/tmp", "/data"} if workload["kind"] == "StatefulSet" else {"/tmp"}
            assert writable == expected, f"{workload['metadata']['name']}: {writable}"


@pytest.mark.parametrize("scenario", APP_SCENARIOS, ids=lambda s: s.id)
def test_requests_and_limits_fit_autopilot(scenario: Scenario) -> None:
    for workload, spec in pods(scenario):
        for container in spec["containers"]:
            res = container["resources"]
            requests, limits = res["requests"], res["limits"]
            for key in ("cpu", "memory", "ephemeral-storage"):
                assert key in requests and key in limits, f"{workload['metadata']['name']}: {key}"
                # Guaranteed QoS, which Autopilot also enforces on clusters that cannot burst.
                assert quantity(requests[key]) == quantity(limits[key]), key
            cpu, mem_gib = quantity(requests["cpu"]), quantity(requests["memory"]) / 2**30
            assert cpu >= 0.05 and quantity(requests["memory"]) >= 52 * 2**20  # Autopilot minimums
            assert 1.0 <= mem_gib / cpu <= 6.5, (
                f"CPU:memory 1:{mem_gib / cpu:.2f} outside Autopilot's 1:1-1:6.5"
            )


def test_emptydir_fits_in_the_ephemeral_storage_request() -> None:
    for scenario in APP_SCENARIOS:
        for _, spec in pods(scenario):
            local = sum(
                quantity(v["emptyDir"]["sizeLimit"]) for v in spec.get("volumes", []) if "emptyDir" in v
            )
            requested = sum(
                quantity(c["resources"]["requests"]["ephemeral-storage"]) for c in spec["containers"]
            )
            assert local <= requested, scenario.id


# --- probes and graceful stops --------------------------------------------------------------


def _container(scenario: Scenario, kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    workload = one(rendered(scenario), kind)
    return workload, pod_spec(workload)["containers"][0]


@pytest.mark.parametrize("scenario", scenarios("api"), ids=lambda s: s.id)
def test_api_probes_rollout_and_graceful_stop(scenario: Scenario) -> None:
    deployment, container = _container(scenario, "Deployment")
    assert container["startupProbe"]["httpGet"]["port"] == "http"
    # Readiness must not follow Redis (a shared dependency): see tests/helm/test_redis_outage.py.
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    strategy = deployment["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate" and strategy["rollingUpdate"]["maxUnavailable"] == 0
    hpas = find(rendered(scenario), "HorizontalPodAutoscaler")
    replicas = hpas[0]["spec"]["minReplicas"] if hpas else deployment["spec"]["replicas"]
    assert replicas >= 2
    if hpas:
        assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
        assert hpas[0]["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    gunicorn_graceful = 30  # apps/src/sreplat_apps/boot/api.py: graceful_timeout
    assert pre_stop >= 5
    assert pod_spec(deployment)["terminationGracePeriodSeconds"] >= pre_stop + gunicorn_graceful


def _longest_job_timeout() -> int:
    """The largest job_timeout the API can enqueue with (apps' task catalogue)."""
    from sreplat_apps import contract

    ms_max = contract.SleepPayload.model_json_schema()["properties"]["ms"]["maximum"]
    biggest = SimpleNamespace(payload=SimpleNamespace(ms=ms_max, data="x", rounds=1))
    return max(spec.timeout_seconds(biggest) for spec in contract.TASKS.values())


@pytest.mark.parametrize("scenario", scenarios("worker"), ids=lambda s: s.id)
def test_worker_grace_covers_the_longest_job(scenario: Scenario) -> None:
    deployment, container = _container(scenario, "Deployment")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] == "metrics", probe
    grace = pod_spec(deployment)["terminationGracePeriodSeconds"]
    values = scenario.values().get("shutdown", {})
    assert grace >= values.get("maxJobTimeoutSeconds", 90) + values.get("marginSeconds", 30)
    if scenario.name == "default":
        assert grace >= _longest_job_timeout() + 10, "a worker could be killed mid-job"


def test_longest_job_timeout_is_read_from_the_apps() -> None:
    assert _longest_job_timeout() == math.ceil(60000 / 1000) + 10


@pytest.mark.parametrize("scenario", scenarios("redis"), ids=lambda s: s.id)
def test_redis_probes(scenario: Scenario) -> None:
    _, container = _container(scenario, "StatefulSet")
    assert container["readinessProbe"]["exec"]["command"][-1].startswith("redis-cli")
    assert container["livenessProbe"]["tcpSocket"]["port"] == "redis"
    assert container["startupProbe"]["tcpSocket"]["port"] == "redis"
    assert {e["name"] for e in container["env"]} == {"REDISCLI_AUTH"}


@pytest.mark.parametrize(
    "scenario", [s for s in APP_SCENARIOS if s.chart in ("api", "worker")], ids=lambda s: s.id
)
def test_disruption_budget_and_monitoring_select_the_pods(scenario: Scenario) -> None:
    objs = rendered(scenario)
    deployment = one(objs, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    pdb = one(objs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    port_names = {p["name"] for p in pod_spec(deployment)["containers"][0]["ports"]}
    for monitoring in find(objs, "PodMonitoring"):
        assert monitoring["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        assert {e["port"] for e in monitoring["spec"]["endpoints"]} <= port_names
        assert "pod" in monitoring["spec"]["targetLabels"]["metadata"]  # the dashboards group by pod
    sa = one(objs, "ServiceAccount")
    assert sa["automountServiceAccountToken"] is False
    assert pod_spec(deployment)["serviceAccountName"] == sa["metadata"]["name"]
    gsa = scenario.values().get("serviceAccount", {}).get("gcpServiceAccount")
    assert sa["metadata"].get("annotations", {}).get("iam.gke.io/gcp-service-account") == gsa


# --- GKE load balancing -------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", scenarios("api"), ids=lambda s: s.id)
def test_service_uses_neg_and_a_process_health_check(scenario: Scenario) -> None:
    import json

    objs = rendered(scenario)
    service = one(objs, "Service")
    annotations = service["metadata"]["annotations"]
    assert json.loads(annotations["cloud.google.com/neg"]) == {"ingress": True}
    backend = json.loads(annotations["cloud.google.com/backend-config"])["default"]
    health = one(objs, "BackendConfig", backend)["spec"]["healthCheck"]
    assert (health["type"], health["requestPath"], health["port"]) == ("HTTP", "/healthz", 8080)
    policy = scenario.values().get("backendConfig", {}).get("securityPolicy")
    spec = one(objs, "BackendConfig", backend)["spec"]
    assert spec.get("securityPolicy") == ({"name": policy} if policy else None)


def test_ingress_wires_static_ip_certificate_and_redirect() -> None:
    (gke,) = [s for s in scenarios("api") if s.name == "gke"]
    values = gke.values()["ingress"]
    objs = rendered(gke)
    ingress = one(objs, "Ingress")
    ann = ingress["metadata"]["annotations"]
    assert ann["kubernetes.io/ingress.class"] == "gce"
    assert ann["kubernetes.io/ingress.global-static-ip-name"] == values["staticIpName"]
    cert = one(objs, "ManagedCertificate", ann["networking.gke.io/managed-certificates"])
    assert cert["spec"]["domains"] == [values["host"]]
    frontend = one(objs, "FrontendConfig", ann["networking.gke.io/v1beta1.FrontendConfig"])
    assert frontend["spec"]["redirectToHttps"] == {
        "enabled": True,
        "responseCodeName": "MOVED_PERMANENTLY_DEFAULT",
    }
    assert frontend["spec"]["sslPolicy"] == values["sslPolicy"]
    assert ann["kubernetes.io/ingress.allow-http"] == "true"  # the redirect answers on port 80
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == values["host"]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == one(objs, "Service")["metadata"]["name"]


def test_ingress_without_redirect_serves_https_only() -> None:
    (fixed,) = [s for s in scenarios("api") if s.name == "fixed-replicas"]
    objs = rendered(fixed)
    ann = one(objs, "Ingress")["metadata"]["annotations"]
    assert ann["kubernetes.io/ingress.allow-http"] == "false"
    assert "networking.gke.io/v1beta1.FrontendConfig" not in ann
    assert not find(objs, "FrontendConfig")


# --- network flows ----------------------------------------------------------------------------
# A flow is (direction, peer, protocol, port); a peer is ("cidr", block) or
# ("pods", namespace or "", frozenset of label pairs).

Flow = tuple[str, tuple[Any, ...], str, int]
DNS_PEERS = {
    ("pods", "kube-system", frozenset({("k8s-app", "kube-dns")})),
    ("cidr", "169.254.169.254/32"),
    ("cidr", "169.254.20.10/32"),
}
DNS = {("egress", peer, proto, 53) for peer in DNS_PEERS for proto in ("UDP", "TCP")}
# GKE's managed collection (setup-managed docs): DaemonSet `collector` in gke-gmp-system.
COLLECTOR = ("pods", "gke-gmp-system", frozenset({("app.kubernetes.io/name", "collector")}))
REDIS = ("pods", "", frozenset({("app.kubernetes.io/name", "redis")}))


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not selector:
        return True
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        assert expr["operator"] == "In", "the evaluator knows only In"
        if labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


def _peers(peer: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    if "ipBlock" in peer:
        assert "except" not in peer["ipBlock"]
        yield ("cidr", peer["ipBlock"]["cidr"])
        return
    ns_sel = peer.get("namespaceSelector")
    namespace = ""
    if ns_sel is not None:
        assert set(ns_sel) == {"matchLabels"} and set(ns_sel["matchLabels"]) == {
            "kubernetes.io/metadata.name"
        }, ns_sel
        namespace = ns_sel["matchLabels"]["kubernetes.io/metadata.name"]
    pod_sel = peer.get("podSelector") or {}
    assert pod_sel, "a peer must name pods, not a whole namespace"
    fixed = frozenset(pod_sel.get("matchLabels", {}).items())
    expressions = pod_sel.get("matchExpressions", [])
    if not expressions:
        yield ("pods", namespace, fixed)
    for expr in expressions:
        for value in expr["values"]:
            yield ("pods", namespace, fixed | {(expr["key"], value)})


def flows(policies: list[dict[str, Any]], labels: dict[str, str]) -> tuple[set[Flow], bool, bool]:
    """Allowed flows for a pod with ``labels``, and whether ingress / egress are isolated."""
    allowed: set[Flow] = set()
    isolated = {"Ingress": False, "Egress": False}
    for policy in policies:
        spec = policy["spec"]
        if not _selects(spec["podSelector"], labels):
            continue
        for direction in spec["policyTypes"]:
            isolated[direction] = True
            key = "from" if direction == "Ingress" else "to"
            for rule in spec.get(direction.lower(), []) or []:
                assert rule.get(key), f"{policy['metadata']['name']}: a rule without peers allows everyone"
                assert rule.get("ports"), (
                    f"{policy['metadata']['name']}: a rule without ports allows every port"
                )
                for peer in rule[key]:
                    for p in _peers(peer):
                        for port in rule["ports"]:
                            allowed.add((direction.lower(), p, port["protocol"], port["port"]))
    return allowed, isolated["Ingress"], isolated["Egress"]


def namespace_policies(**chosen: str) -> list[dict[str, Any]]:
    """NetworkPolicies of all four charts installed together (scenario name per chart)."""
    names = {"platform": "default", "redis": "default", "api": "default", "worker": "default", **chosen}
    policies: list[dict[str, Any]] = []
    for chart, name in names.items():
        (scenario,) = [s for s in scenarios(chart) if s.name == name]
        policies.extend(find(rendered(scenario), "NetworkPolicy"))
    return policies


def pod_labels(chart: str) -> dict[str, str]:
    (scenario,) = [s for s in scenarios(chart) if s.name == "default"]
    (workload,) = workloads(rendered(scenario))
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def test_default_deny_covers_every_pod_both_ways() -> None:
    (platform,) = [s for s in scenarios("platform") if s.name == "default"]
    deny = one(rendered(platform), "NetworkPolicy", "default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    # Any pod, even one no chart knows, is isolated and may only resolve names.
    allowed, ingress_isolated, egress_isolated = flows(namespace_policies(), {"app": "stray"})
    assert ingress_isolated and egress_isolated
    assert allowed == DNS


def test_api_flows_are_exactly_the_allowed_ones() -> None:
    allowed, ing, eg = flows(namespace_policies(), pod_labels("api"))
    expected = (
        {("ingress", ("cidr", c), "TCP", 8080) for c in LB_RANGES}
        | {("ingress", COLLECTOR, "TCP", 8080), ("egress", REDIS, "TCP", 6379)}
        | DNS
    )
    assert ing and eg
    assert allowed == expected


def test_worker_flows_are_exactly_the_allowed_ones() -> None:
    allowed, ing, eg = flows(namespace_policies(), pod_labels("worker"))
    assert ing and eg
    assert allowed == {("ingress", COLLECTOR, "TCP", 9100), ("egress", REDIS, "TCP", 6379)} | DNS


def test_redis_admits_only_api_and_worker() -> None:
    allowed, ing, eg = flows(namespace_policies(), pod_labels("redis"))
    clients = {
        ("ingress", ("pods", "", frozenset({("app.kubernetes.io/name", n)})), "TCP", 6379)
        for n in ("api", "worker")
    }
    assert ing and eg
    assert allowed == clients | DNS  # DNS comes from the platform's namespace-wide allow


OTEL_COLLECTOR = ("pods", "", frozenset({("app.kubernetes.io/name", "otel-collector")}))
GOOGLE_APIS = {
    ("egress", ("cidr", "199.36.153.8/30"), "TCP", 443),  # private.googleapis.com
    ("egress", ("cidr", "169.254.169.254/32"), "TCP", 80),  # metadata server (Workload Identity)
    ("egress", ("cidr", "169.254.169.252/32"), "TCP", 988),  # GKE metadata server, Dataplane V2
}


def test_otlp_egress_only_to_the_collector_on_the_otlp_http_port() -> None:
    api, _, _ = flows(namespace_policies(api="otel"), pod_labels("api"))
    assert api - flows(namespace_policies(), pod_labels("api"))[0] == {
        ("egress", OTEL_COLLECTOR, "TCP", 4318)
    }
    worker, _, _ = flows(namespace_policies(worker="otel"), pod_labels("worker"))
    # That scenario also turns Managed Prometheus off: nothing may come in at all.
    assert {f for f in worker if f[0] == "ingress"} == set()
    assert {f for f in worker if f[0] == "egress"} == {
        ("egress", REDIS, "TCP", 6379),
        ("egress", OTEL_COLLECTOR, "TCP", 4318),
    } | DNS
    # Another namespace's collector is named with its namespace.
    (other,) = [s for s in scenarios("worker") if s.name == "otel"]
    values = other.values()
    values["otel"]["collector"]["namespace"] = "observability"
    from tests.helm.charts import render_objects

    policies = find(render_objects("worker", values), "NetworkPolicy")
    elsewhere = ("pods", "observability", frozenset({("app.kubernetes.io/name", "otel-collector")}))
    assert ("egress", elsewhere, "TCP", 4318) in flows(policies, pod_labels("worker"))[0]


def _observability_pod(name: str) -> dict[str, str]:
    (gke,) = [s for s in scenarios("platform") if s.name == "gke"]
    (workload,) = [w for w in workloads(rendered(gke)) if w["metadata"]["name"] == name]
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def _observability_flows(name: str) -> tuple[set[Flow], bool, bool]:
    return flows(namespace_policies(platform="gke", api="otel", worker="otel"), _observability_pod(name))


def test_collector_takes_otlp_from_api_and_worker_only_and_talks_only_to_google() -> None:
    allowed, ing, eg = _observability_flows("otel-collector")
    clients = {
        ("ingress", ("pods", "", frozenset({("app.kubernetes.io/name", n)})), "TCP", 4318)
        for n in ("api", "worker")
    }
    assert ing and eg
    assert allowed == clients | GOOGLE_APIS | DNS


def test_grafana_takes_nothing_from_the_network_and_reaches_only_the_frontend() -> None:
    allowed, ing, eg = _observability_flows("grafana")
    frontend = (
        "pods",
        "",
        frozenset({("app.kubernetes.io/name", "gmp-frontend"), ("app.kubernetes.io/instance", "platform")}),
    )
    assert ing and eg
    assert allowed == {("egress", frontend, "TCP", 9090)} | DNS  # port-forward only: no ingress flow


def test_gmp_frontend_serves_grafana_only_and_talks_only_to_google() -> None:
    allowed, ing, eg = _observability_flows("gmp-frontend")
    grafana = (
        "pods",
        "",
        frozenset({("app.kubernetes.io/name", "grafana"), ("app.kubernetes.io/instance", "platform")}),
    )
    assert ing and eg
    assert allowed == {("ingress", grafana, "TCP", 9090)} | GOOGLE_APIS | DNS


def test_apps_flows_are_unchanged_by_the_observability_pieces() -> None:
    for chart in ("api", "worker"):
        with_observability, _, _ = flows(namespace_policies(platform="gke"), pod_labels(chart))
        assert with_observability == flows(namespace_policies(), pod_labels(chart))[0], chart


def test_app_policies_stand_alone_without_the_platform_chart() -> None:
    """Each app policy isolates its pods and carries its own DNS rule, so an app works (and is
    closed) even before the platform release exists."""
    for chart in ("api", "worker"):
        (scenario,) = [s for s in scenarios(chart) if s.name == "default"]
        allowed, ing, eg = flows(find(rendered(scenario), "NetworkPolicy"), pod_labels(chart))
        assert ing and eg
        assert allowed >= DNS


def test_metrics_scraper_defaults_to_gkes_managed_collection_and_can_be_changed() -> None:
    """Issue 12 item 4: on GKE the managed collectors run in gke-gmp-system; a cluster running the
    self-deployed operator (gmp-system) says so in values."""
    from tests.helm.charts import render_objects

    for chart, port in (("api", 8080), ("worker", 9100)):
        labels = pod_labels(chart)
        default, _, _ = flows(namespace_policies(), labels)
        assert ("ingress", COLLECTOR, "TCP", port) in default
        own = ("pods", "gmp-system", frozenset({("app.kubernetes.io/name", "collector")}))
        values = {"networkPolicy": {"metricsScraper": {"namespace": "gmp-system"}}}
        policies = find(render_objects(chart, values), "NetworkPolicy")
        changed, _, _ = flows(policies, labels)
        assert ("ingress", own, "TCP", port) in changed and ("ingress", COLLECTOR, "TCP", port) not in changed
