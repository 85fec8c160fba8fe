"""Every chart renders with its defaults and each ci/*-values.yaml through the real Helm SDK,
lints clean, rejects bad values with a clear message, and uses the contract's names."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helm.charts import (
    CHARTS,
    HELM_DIR,
    NAMESPACE,
    Scenario,
    find,
    one,
    pod_spec,
    render_objects,
    render_templates,
    rendered,
    scenarios,
)

pytestmark = pytest.mark.helm

SCENARIOS = scenarios()
DIGEST = "sha256:" + "ab" * 32
# Objects that must live outside the release's namespace: the managed Alertmanager reads its
# configuration from this Secret in gmp-public (tests/helm/test_observability.py).
ELSEWHERE = {("Secret", "alertmanager", "gmp-public")}


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in container.get("env", [])}


def test_every_chart_has_schema_notes_and_ci_scenarios() -> None:
    for chart in CHARTS:
        assert (HELM_DIR / chart / "values.schema.json").is_file(), chart
        assert (HELM_DIR / chart / "templates" / "NOTES.txt").is_file(), chart
        assert list((HELM_DIR / chart / "ci").glob("*-values.yaml")), f"{chart} has no ci scenario"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
def test_renders_namespaced_labelled_objects(scenario: Scenario) -> None:
    templates = render_templates(scenario.chart, scenario.values())
    objs = rendered(scenario)
    assert objs, "rendered nothing"
    for obj in objs:
        meta = obj["metadata"]
        where = (obj["kind"], meta["name"], meta["namespace"])
        assert meta["namespace"] == NAMESPACE or where in ELSEWHERE, f"{obj['kind']}/{meta['name']}"
        assert meta["labels"]["app.kubernetes.io/part-of"] == "sreplat"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    notes = templates[f"{scenario.chart}/templates/NOTES.txt"]
    assert scenario.chart in notes and NAMESPACE in notes and "kubectl" in notes


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
def test_lints_without_warnings(scenario: Scenario) -> None:
    import helm_python as hp

    report = hp.lint(
        scenario.chart_dir, scenario.values(), strict=True, namespace=NAMESPACE, kube_version="v1.35.0"
    )
    assert report["errors"] == []
    # Severity 1 is informational ("icon is recommended"); 2 warning, 3 error.
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
def test_scenario_values_pass_the_schema(scenario: Scenario) -> None:
    import helm_python as hp

    with hp.Chart.load(scenario.chart_dir) as chart:
        chart.validate_schema(scenario.values())


@pytest.mark.parametrize(
    ("chart", "values", "complaint"),
    [
        ("api", {"replicas": 3}, "replicas"),  # typo of replicaCount: additionalProperties false
        ("api", {"image": {"repository": "x", "sha": "1"}}, "sha"),
        ("api", {"image": {"digest": "sha256:nothex"}}, "digest"),
        ("api", {"replicaCount": 1}, "replicaCount"),
        ("api", {"ingress": {"enabled": True, "staticIpName": "ip"}}, "host"),
        ("api", {"ingress": {"enabled": True, "host": "a.example.org"}}, "staticIpName"),
        # null deletes a default in Helm: requests are required (Autopilot sizes nodes from them)
        ("api", {"resources": {"requests": {"memory": None}}}, "memory"),
        ("api", {"networkPolicy": {"loadBalancerSourceRanges": ["everywhere"]}}, "loadBalancerSourceRanges"),
        ("worker", {"shutdown": {"maxJobTimeoutSeconds": 0}}, "maxJobTimeoutSeconds"),
        ("worker", {"app": {"workers": 2, "threads": 4}}, "threads"),
        ("redis", {"auth": {"password": "has:colon@and/slash"}}, "password"),
        ("redis", {"persistence": {"size": "lots"}}, "size"),
        ("platform", {"dashboards": {"enabled": True, "sidecar": True}}, "sidecar"),
        ("api", {"otel": {"protocol": "grpc"}}, "protocol"),  # the apps' exporter is OTLP/HTTP only
        ("worker", {"otel": {"samplingRatio": 1.5}}, "samplingRatio"),
        ("platform", {"collector": {"replicas": 1}}, "replicas"),  # a gateway keeps two
        ("platform", {"alerting": {"webhook": {"url": "ftp://x"}}}, "url"),
        (
            "platform",
            {"slo": {"ruleGroups": [{"name": "g", "interval": "30s", "rules": [{"record": "r"}]}]}},
            "expr",
        ),
    ],
)
def test_schema_rejects_bad_values(chart: str, values: dict[str, Any], complaint: str) -> None:
    import helm_python as hp

    with hp.Chart.load(HELM_DIR / chart) as loaded, pytest.raises(hp.HelmValuesError) as caught:
        loaded.validate_schema(values)
    assert complaint in str(caught.value)


@pytest.mark.parametrize(
    ("chart", "values", "complaint"),
    [
        (
            "api",
            {
                "lifecycle": {
                    "preStopSleepSeconds": 20,
                    "gracefulTimeoutSeconds": 30,
                    "terminationGracePeriodSeconds": 40,
                }
            },
            "terminationGracePeriodSeconds (40) must be at least",
        ),
        ("api", {"autoscaling": {"minReplicas": 5, "maxReplicas": 3}}, "maxReplicas (3) must be >= "),
        (
            "api",
            {
                "ingress": {
                    "enabled": True,
                    "host": "a.example.org",
                    "staticIpName": "ip",
                    "managedCertificate": False,
                }
            },
            "ingress.httpsRedirect needs ingress.managedCertificate",
        ),
        # gRPC's port: the apps speak OTLP/HTTP, and the NetworkPolicy opens the collector's port only.
        ("api", {"otel": {"endpoint": "http://otel-collector:4317"}}, "must use the collector's port"),
        ("worker", {"otel": {"endpoint": "http://otel-collector"}}, "must use the collector's port"),
        ("platform", {"collector": {"enabled": True}}, "gcp.projectId is required by collector.enabled"),
        ("platform", {"grafana": {"enabled": True}}, "gcp.projectId is required by grafana.enabled"),
        (
            "platform",
            {
                "grafana": {"enabled": True},
                "gcp": {"projectId": "acme-sre-dev"},
                "dashboards": {"enabled": False},
            },
            "grafana.enabled needs dashboards.enabled",
        ),
        ("platform", {"alerting": {"enabled": True}}, "alerting.enabled needs a receiver"),
        (
            "platform",
            {
                "alerting": {
                    "enabled": True,
                    "webhook": {"url": "https://x.example"},
                    "email": {"to": "a@b.example"},
                }
            },
            "either alerting.webhook.url or alerting.email.to, not both",
        ),
        (
            "platform",
            {"alerting": {"enabled": True, "email": {"to": "a@b.example"}}},
            "needs from and smarthost",
        ),
    ],
)
def test_render_refuses_inconsistent_values(chart: str, values: dict[str, Any], complaint: str) -> None:
    import helm_python as hp

    with pytest.raises(hp.HelmRenderError) as caught:
        render_templates(chart, values)
    assert complaint in str(caught.value)


@pytest.mark.parametrize("chart", ["api", "worker", "redis"])
def test_image_digest_wins_over_tag(chart: str) -> None:
    def image(values: dict[str, Any]) -> str:
        objs = render_objects(chart, values)
        (workload,) = [o for o in objs if o["kind"] in ("Deployment", "StatefulSet")]
        image: str = pod_spec(workload)["containers"][0]["image"]
        return image

    repo = "europe-west1-docker.pkg.dev/p/r/" + chart
    assert image({"image": {"repository": repo, "tag": "abc123"}}) == f"{repo}:abc123"
    assert image({"image": {"repository": repo, "tag": "abc123", "digest": DIGEST}}) == f"{repo}@{DIGEST}"


def test_image_tag_defaults_to_app_version_and_release_to_tag() -> None:
    import helm_python as hp

    with hp.Chart.load(HELM_DIR / "api") as chart:
        app_version = chart.metadata["appVersion"]
    api = one(render_objects("api"), "Deployment")
    container = pod_spec(api)["containers"][0]
    assert container["image"].endswith(f":{app_version}")
    assert env_of(container)["SREPLAT_RELEASE"]["value"] == app_version
    sha = "0123456789abcdef0123456789abcdef01234567"
    api = one(render_objects("api", {"image": {"tag": sha}}), "Deployment")
    assert env_of(pod_spec(api)["containers"][0])["SREPLAT_RELEASE"]["value"] == sha


@pytest.mark.parametrize("chart", ["api", "worker"])
def test_apps_follow_the_contract(chart: str) -> None:
    """docs/contracts.md: ports, labels, Redis wiring, writable paths."""
    for scenario in scenarios(chart):
        objs = rendered(scenario)
        workload = one(objs, "Deployment")
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == chart
        assert labels["app.kubernetes.io/part-of"] == "sreplat"
        (container,) = pod_spec(workload)["containers"]
        assert container["command"][0] == f"sreplat-{chart}"
        ports = {p["containerPort"] for p in container["ports"]}
        assert ports == ({8080} if chart == "api" else {9100})
        env_list = [e["name"] for e in container["env"]]
        env = env_of(container)
        # REDIS_PASSWORD must be defined before REDIS_URL for $(REDIS_PASSWORD) to expand.
        assert env_list.index("REDIS_PASSWORD") < env_list.index("REDIS_URL")
        assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "redis",
            "key": "redis-password",
        }
        assert env["REDIS_URL"]["value"] == "redis://:$(REDIS_PASSWORD)@redis:6379/0"
        for var in ("TMPDIR", "SREPLAT_RUNTIME_DIR", "PROMETHEUS_MULTIPROC_DIR"):
            assert env[var]["value"].startswith("/tmp"), var
        assert {"SREPLAT_QUEUE", "SREPLAT_RELEASE", "LOG_LEVEL"} <= set(env)
        if chart == "worker":
            assert env["WORKER_METRICS_PORT"]["value"] == "9100"
            assert container["command"][container["command"].index("--metrics-port") + 1] == "9100"
        else:
            assert container["command"][1:] == ["--bind", "0.0.0.0:8080"]


def test_otlp_endpoint_reaches_the_apps_only_when_set() -> None:
    for chart in ("api", "worker"):
        plain = env_of(pod_spec(one(render_objects(chart), "Deployment"))["containers"][0])
        assert not {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_SAMPLER", "GOOGLE_CLOUD_PROJECT"} & set(plain)
        (scenario,) = [s for s in scenarios(chart) if s.name == "otel"]
        values = scenario.values()
        env = env_of(pod_spec(one(rendered(scenario), "Deployment"))["containers"][0])
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == values["otel"]["endpoint"]
        assert env["OTEL_EXPORTER_OTLP_PROTOCOL"]["value"] == "http/protobuf"
        assert env["OTEL_TRACES_SAMPLER"]["value"] == "parentbased_traceidratio"
        assert float(env["OTEL_TRACES_SAMPLER_ARG"]["value"]) == values["otel"]["samplingRatio"]
        assert env["GOOGLE_CLOUD_PROJECT"]["value"] == values["gcpProject"]
        assert env["OTEL_SERVICE_NAME"]["value"] == chart


def test_redis_follows_the_contract() -> None:
    objs = render_objects("redis")
    service = one(objs, "Service", "redis")
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(6379, "redis")]
    secret = one(objs, "Secret", "redis")
    assert set(secret["data"]) == {"redis-password", "auth.conf"}
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    sts = one(objs, "StatefulSet", "redis")
    assert sts["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == "redis"
    config = one(objs, "ConfigMap", "redis")["data"]["redis.conf"]
    assert "appendonly yes" in config
    assert "include /etc/redis/auth/auth.conf" in config
    # The password is never on a command line.
    container = pod_spec(sts)["containers"][0]
    assert container["command"] == ["redis-server", "/etc/redis/redis.conf"]
    claim = sts["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }


def test_redis_password_is_generated_alphanumeric_or_taken_from_values() -> None:
    import base64

    def password(values: dict[str, Any]) -> str:
        secret = one(render_objects("redis", values), "Secret", "redis")
        plain = base64.b64decode(secret["data"]["redis-password"]).decode()
        assert base64.b64decode(secret["data"]["auth.conf"]).decode() == f"requirepass {plain}\n"
        return plain

    generated = password({})
    assert generated.isalnum() and len(generated) == 32
    assert password({"auth": {"password": "GivenPassword12345"}}) == "GivenPassword12345"


def test_redis_config_change_rolls_the_pod() -> None:
    def checksum(values: dict[str, Any]) -> str:
        sts = one(render_objects("redis", values), "StatefulSet")
        value: str = sts["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        return value

    assert checksum({}) == checksum({})
    assert checksum({}) != checksum({"config": {"appendfsync": "always"}})


def test_release_named_otherwise_gets_prefixed_names() -> None:
    objs = render_objects("api", release="blue")
    assert one(objs, "Deployment")["metadata"]["name"] == "blue-api"
    labels = one(objs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "api" and labels["app.kubernetes.io/instance"] == "blue"


def test_ingress_pieces_only_with_ingress_enabled() -> None:
    kinds = {o["kind"] for o in render_objects("api")}
    assert not kinds & {"Ingress", "ManagedCertificate", "FrontendConfig"}
    assert "BackendConfig" in kinds  # the Service's health check config is always there
    (gke,) = [s for s in scenarios("api") if s.name == "gke"]
    kinds = {o["kind"] for o in rendered(gke)}
    assert {"Ingress", "ManagedCertificate", "FrontendConfig", "BackendConfig"} <= kinds


def test_platform_ships_each_dashboard_in_a_labelled_configmap() -> None:
    objs = render_objects("platform")
    maps = find(objs, "ConfigMap")
    files = sorted(p.name for p in (HELM_DIR / "platform" / "dashboards").glob("*.json"))
    assert sorted(next(iter(m["data"])) for m in maps) == files
    for cm in maps:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert not find(render_objects("platform", {"dashboards": {"enabled": False}}), "ConfigMap")
