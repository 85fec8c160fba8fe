"""The platform chart's observability pieces, beyond the policy every chart meets: the apps and the
collector agree on protocol and port (checked with the apps' own settings parser), the collector
exports to Cloud Trace, Grafana is closed and keeps its admin password, the SLO rules render as a
Rules resource valid for its CRD and for promtool, and the managed Alertmanager gets a
configuration amtool accepts, in the Secret GMP reads by default."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sreplat_apps.settings import Settings

from sreplat.slo.model import load_slos
from sreplat.slo.render import helm_values, prometheus_rules_file
from sreplat.slo.rules import GMP_GROUP_BY, RuleSettings, rule_groups
from sreplat.tools.helm.access import KubeAccess, SdkConnection
from sreplat.tools.helm.manager import ReleaseManager
from tests.doubles.fixtures import KUBE_TOKEN
from tests.doubles.kube import KubeDouble
from tests.doubles.kube_controllers import WorkloadController
from tests.helm.charts import HELM_DIR, REPO, find, one, pod_spec, render_objects, rendered, scenarios
from tests.helm.test_kube_schemas import CRD_DIR, crd_validator

pytestmark = pytest.mark.helm

PROJECT = "acme-sre-dev"


def gke() -> dict[str, Any]:
    (scenario,) = [s for s in scenarios("platform") if s.name == "gke"]
    return scenario.values()


def gke_objects() -> tuple[dict[str, Any], ...]:
    (scenario,) = [s for s in scenarios("platform") if s.name == "gke"]
    return rendered(scenario)


def env_of(container: dict[str, Any]) -> dict[str, str]:
    """Literal env values of a container (references to Secrets and fields are left out)."""
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def collector_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(
        one(gke_objects(), "ConfigMap", "otel-collector")["data"]["config.yaml"]
    )
    return config


# --- apps <-> collector -------------------------------------------------------------------------


@pytest.mark.parametrize("chart", ["api", "worker"])
def test_apps_and_collector_agree_on_otlp_http_and_its_port(chart: str) -> None:
    (scenario,) = [s for s in scenarios(chart) if s.name == "otel"]
    container = pod_spec(one(rendered(scenario), "Deployment"))["containers"][0]
    # The apps' own parser reads what the chart sets: an unusable protocol would stop them here.
    tracing = Settings.from_env(env_of(container)).tracing
    assert tracing.traces_endpoint == "http://otel-collector:4318/v1/traces"
    assert (tracing.sampler, tracing.ratio) == ("parentbased_traceidratio", 0.25)
    service = one(gke_objects(), "Service", "otel-collector")
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(4318, "otlp-http")]
    deployment = one(gke_objects(), "Deployment", "otel-collector")
    (port,) = pod_spec(deployment)["containers"][0]["ports"]
    assert (port["name"], port["containerPort"]) == ("otlp-http", 4318)
    receiver = collector_config()["receivers"]["otlp"]["protocols"]
    assert set(receiver) == {"http"} and receiver["http"]["endpoint"].endswith(":4318")


def test_collector_exports_traces_to_cloud_trace_as_its_own_service_account() -> None:
    config = collector_config()
    assert config["exporters"] == {"googlecloud": {"project": PROJECT}}
    pipeline = config["service"]["pipelines"]
    assert set(pipeline) == {"traces"}
    assert pipeline["traces"]["receivers"] == ["otlp"] and pipeline["traces"]["exporters"] == ["googlecloud"]
    assert pipeline["traces"]["processors"][0] == "memory_limiter"  # first, as the exporter's docs say
    objs = gke_objects()
    sa = one(objs, "ServiceAccount", "otel-collector")
    assert (
        sa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"]
        == gke()["collector"]["gcpServiceAccount"]
    )
    deployment = one(objs, "Deployment", "otel-collector")
    assert pod_spec(deployment)["serviceAccountName"] == "otel-collector"
    assert deployment["spec"]["replicas"] >= 2
    assert one(objs, "PodDisruptionBudget", "otel-collector")["spec"]["maxUnavailable"] == 1
    image = pod_spec(deployment)["containers"][0]["image"]
    assert image.startswith("otel/opentelemetry-collector-contrib:0.") and not image.endswith(":latest")


def test_a_collector_config_change_rolls_its_pods() -> None:
    def checksum(values: dict[str, Any]) -> str:
        deployment = one(render_objects("platform", values), "Deployment", "otel-collector")
        value: str = deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        return value

    values = gke()
    assert checksum(values) == checksum(values)
    assert checksum(values) != checksum({**values, "gcp": {"projectId": "other-project"}})


# --- Grafana and its data source ----------------------------------------------------------------


def test_grafana_has_no_anonymous_access_and_reads_its_admin_from_the_kept_secret() -> None:
    objs = gke_objects()
    container = pod_spec(one(objs, "Deployment", "grafana"))["containers"][0]
    env = env_of(container)
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/etc/grafana/admin/admin-password"
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env, "never a password in the pod spec"
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["admin"]["mountPath"] == "/etc/grafana/admin" and mounts["admin"]["readOnly"]
    secret = one(objs, "Secret", "grafana-admin")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    password = base64.b64decode(secret["data"]["admin-password"]).decode()
    assert password.isalnum() and len(password) == 32


def test_grafana_provisions_the_managed_prometheus_frontend_and_every_dashboard() -> None:
    objs = gke_objects()
    provisioning = one(objs, "ConfigMap", "grafana-provisioning")["data"]
    (datasource,) = yaml.safe_load(provisioning["datasources.yaml"])["datasources"]
    assert datasource["type"] == "prometheus" and datasource["isDefault"] is True
    frontend = one(objs, "Service", "gmp-frontend")
    assert datasource["url"] == f"http://gmp-frontend.sreplat.svc:{frontend['spec']['ports'][0]['port']}"
    frontend_container = pod_spec(one(objs, "Deployment", "gmp-frontend"))["containers"][0]
    assert f"--query.project-id={PROJECT}" in frontend_container["args"]
    assert "--web.listen-address=:9090" in frontend_container["args"]
    sa = one(objs, "ServiceAccount", "gmp-frontend")
    wanted = gke()["grafana"]["gmpFrontend"]["gcpServiceAccount"]
    assert sa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == wanted
    # Dashboards: the provider reads the mount that projects every dashboard ConfigMap.
    (provider,) = yaml.safe_load(provisioning["dashboards.yaml"])["providers"]
    spec = pod_spec(one(objs, "Deployment", "grafana"))
    mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "dashboards")
    assert provider["options"]["path"] == mount["mountPath"]
    projected = next(v for v in spec["volumes"] if v["name"] == "dashboards")["projected"]["sources"]
    dashboard_maps = {
        cm["metadata"]["name"]
        for cm in find(objs, "ConfigMap")
        if cm["metadata"]["name"].startswith("grafana-dashboard-")
    }
    assert {source["configMap"]["name"] for source in projected} == dashboard_maps
    files = {p.stem for p in (HELM_DIR / "platform" / "dashboards").glob("*.json")}
    assert dashboard_maps == {f"grafana-dashboard-{stem}" for stem in files}


@pytest.fixture
def manager(kube_double: KubeDouble, kube_ca_pem: str) -> Iterator[ReleaseManager]:
    kube_double.reactors.append(WorkloadController())  # workloads become ready when applied
    access = KubeAccess.from_token(server=kube_double.url, token=KUBE_TOKEN, ca_pem=kube_ca_pem)
    with ReleaseManager(SdkConnection(access, storage_driver="memory"), namespace="sreplat") as m:
        yield m


def test_grafana_admin_password_is_created_once_and_kept_by_upgrades(
    manager: ReleaseManager, kube_double: KubeDouble
) -> None:
    values = {"gcp": {"projectId": PROJECT}, "grafana": {"enabled": True}}

    def password() -> str:
        secret = kube_double.get("Secret", "grafana-admin", "sreplat")
        assert secret is not None
        return base64.b64decode(secret["data"]["admin-password"]).decode()

    manager.upgrade_install("platform", HELM_DIR / "platform", values, timeout=60)
    first = password()
    # Rendered without a cluster, each render draws a new one: only the lookup keeps it.
    offline = {
        one(render_objects("platform", values), "Secret", "grafana-admin")["data"]["admin-password"]
        for _ in range(2)
    }
    assert len(offline) == 2
    upgraded = manager.upgrade_install(
        "platform",
        HELM_DIR / "platform",
        {**values, "grafana": {"enabled": True, "adminUser": "sre"}},
        timeout=60,
    )
    assert upgraded.release.revision == 2
    assert password() == first, "an upgrade must keep the admin password"
    secret = kube_double.get("Secret", "grafana-admin", "sreplat")
    assert secret is not None and base64.b64decode(secret["data"]["admin-user"]).decode() == "sre"


# --- SLO rules ------------------------------------------------------------------------------------


def slo_rule_values() -> dict[str, Any]:
    return helm_values(rule_groups(load_slos(REPO / "slo"), RuleSettings(group_by=GMP_GROUP_BY)))


def test_generated_slo_rules_render_as_a_rules_resource_valid_for_its_crd() -> None:
    values = slo_rule_values()
    rules = one(render_objects("platform", values), "Rules")
    crd_validator("Rules").validate(rules)
    assert rules["metadata"] == {**rules["metadata"], "name": "sreplat-slo", "namespace": "sreplat"}
    assert rules["spec"]["groups"] == values["slo"]["ruleGroups"]  # passed through unchanged
    assert not find(render_objects("platform"), "Rules"), "no rules, no resource"


def test_rules_crd_schema_rejects_mistakes() -> None:
    import jsonschema

    rules = one(render_objects("platform", slo_rule_values()), "Rules")
    for mutate in (
        lambda r: r["spec"]["groups"][0].pop("interval"),  # required by the CRD
        lambda r: r["spec"]["groups"][0]["rules"][0].update(alert="Both"),  # record and alert
        lambda r: r["spec"]["groups"][0].update(interval="30 seconds"),
        lambda r: r["spec"]["groups"][0]["rules"][0].update(expression="up"),
    ):
        broken = json.loads(json.dumps(rules))
        mutate(broken)
        with pytest.raises(jsonschema.ValidationError):
            crd_validator("Rules").validate(broken)


@pytest.mark.prometheus
def test_the_rules_resource_passes_promtool(tmp_path: Path) -> None:
    rules = one(render_objects("platform", slo_rule_values()), "Rules")
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": rules["spec"]["groups"]}))
    result = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The same groups as the local Prometheus' rules file, only grouped for GMP's scope labels.
    local = yaml.safe_load(prometheus_rules_file(rule_groups(load_slos(REPO / "slo"))))["groups"]
    assert [g["name"] for g in local] == [g["name"] for g in rules["spec"]["groups"]]


# --- managed Alertmanager -------------------------------------------------------------------------


def alertmanager_config(values: dict[str, Any]) -> tuple[dict[str, Any], str]:
    secret = one(render_objects("platform", values), "Secret", "alertmanager")
    (key,) = secret["data"]
    return secret, base64.b64decode(secret["data"][key]).decode()


def test_alertmanager_config_goes_where_managed_prometheus_reads_it_by_default() -> None:
    schema = json.loads((CRD_DIR / "operatorconfig.json").read_text())
    default = schema["properties"]["managedAlertmanager"]["default"]["configSecret"]
    secret, _ = alertmanager_config(gke())
    assert secret["metadata"]["namespace"] == "gmp-public"  # the OperatorConfig's public namespace
    assert secret["metadata"]["name"] == default["name"]
    assert list(secret["data"]) == [default["key"]]
    assert not find(render_objects("platform"), "Secret"), "no alerting, no configuration"


@pytest.mark.prometheus
@pytest.mark.parametrize("scenario_name", ["gke", "email-alerts"])
def test_alertmanager_config_passes_amtool_and_routes_both_severities(
    scenario_name: str, tmp_path: Path
) -> None:
    (scenario,) = [s for s in scenarios("platform") if s.name == scenario_name]
    values = scenario.values()
    _, text = alertmanager_config(values)
    path = tmp_path / "alertmanager.yaml"
    path.write_text(text)
    check = subprocess.run(["amtool", "check-config", str(path)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    for severity in ("page", "ticket"):
        routed = subprocess.run(
            [
                "amtool",
                "config",
                "routes",
                "test",
                f"--config.file={path}",
                f"severity={severity}",
                "slo=api-latency",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert routed.returncode == 0 and routed.stdout.strip() == "sreplat", routed.stdout + routed.stderr
    config = yaml.safe_load(text)
    (receiver,) = config["receivers"]
    alerting = values["alerting"]
    if scenario_name == "gke":
        assert receiver["webhook_configs"] == [{"url": alerting["webhook"]["url"], "send_resolved": True}]
    else:
        (email,) = receiver["email_configs"]
        assert (email["to"], email["smarthost"], email["auth_password"]) == (
            alerting["email"]["to"],
            alerting["email"]["smarthost"],
            alerting["email"]["authPassword"],
        )
        assert config["route"]["repeat_interval"] == alerting["repeatInterval"]["page"]
    assert {"slo", "alertname", "cluster", "namespace"} <= set(config["route"]["group_by"])


def test_nothing_of_the_receiver_is_hard_coded() -> None:
    _, text = alertmanager_config(
        {"alerting": {"enabled": True, "webhook": {"url": "https://elsewhere.example/h"}}}
    )
    assert "https://elsewhere.example/h" in text and "hooks.example.org" not in text
