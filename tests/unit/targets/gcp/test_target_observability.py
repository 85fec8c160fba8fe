"""gcp observability wiring, against the doubles: bootstrap installs the collector, Grafana's
frontend, the generated SLO Rules and the alert receiver with the foundation's service accounts,
and points the apps at the collector; alert settings are checked before anything is created (an
SMTP password only from the environment); ``sreplat logs`` reads Cloud Logging through the real
client, one trace across API and worker in time order."""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from sreplat_apps.boot.jsonlog import JsonFormatter

from tests.unit.targets.gcp.world import ENV, PROJECT, REGION, World

pytestmark = [pytest.mark.terraform, pytest.mark.helm, pytest.mark.slow]

COLLECTOR_SA = f"sreplat-{ENV}-otel@{PROJECT}.iam.gserviceaccount.com"  # the fixture foundation's
FRONTEND_SA = f"sreplat-{ENV}-gmp@{PROJECT}.iam.gserviceaccount.com"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
WEBHOOK = "https://hooks.acme.example/sreplat"


def env_of(world: World, deployment: str) -> dict[str, str]:
    found = world.kube.get("Deployment", deployment, "sreplat")
    assert found is not None
    container = found["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def alertmanager_config(world: World) -> dict[str, Any]:
    secret = world.kube.get("Secret", "alertmanager", "gmp-public")
    assert secret is not None, "no managed Alertmanager configuration"
    return yaml.safe_load(base64.b64decode(secret["data"]["alertmanager.yaml"]))  # type: ignore[no-any-return]


def test_bootstrap_turns_on_traces_slo_rules_and_alerts(world: World) -> None:
    world.configure(alert_webhook_url=WEBHOOK, trace_sampling_ratio=0.25)

    run = world.cli("bootstrap")

    assert run.code == 0, run.err[-3000:]
    rules = world.kube.get("Rules", "sreplat-slo", "sreplat")
    assert rules is not None
    groups = {g["name"]: g for g in rules["spec"]["groups"]}
    assert set(groups) == {"slo-api-availability", "slo-api-latency", "slo-job-freshness"}
    first = groups["slo-api-availability"]["rules"][0]
    assert "sum by (project_id, location, cluster, namespace)" in first["expr"]  # GMP_GROUP_BY
    route = alertmanager_config(world)
    assert route["receivers"] == [
        {"name": "sreplat", "webhook_configs": [{"url": WEBHOOK, "send_resolved": True}]}
    ]
    for account, email in (("otel-collector", COLLECTOR_SA), ("gmp-frontend", FRONTEND_SA)):
        sa = world.kube.get("ServiceAccount", account, "sreplat")
        assert sa is not None and sa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == email
    for app in ("api", "worker"):
        env = env_of(world, app)
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318", app
        assert env["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
        assert env["OTEL_TRACES_SAMPLER_ARG"] == "0.25"
        assert env["GOOGLE_CLOUD_PROJECT"] == PROJECT

    again = world.cli("bootstrap")  # the same values render the same: nothing upgraded
    assert again.code == 0 and again.steps()["platform"] == "skipped", again.steps()


def test_email_alerts_need_their_password_from_the_environment(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.configure(
        alert_email_to="oncall@acme.example",
        alert_email_from="sreplat@acme.example",
        alert_email_smarthost="smtp.acme.example:587",
        alert_email_username="sreplat@acme.example",
        alert_email_password_env="ACME_SMTP_PASSWORD",
    )
    monkeypatch.delenv("ACME_SMTP_PASSWORD", raising=False)

    refused = world.cli("bootstrap")

    assert refused.code == 2
    assert "ACME_SMTP_PASSWORD, which is not set" in refused.error["message"]
    assert world.calls(writes_only=True) == []  # nothing created anywhere

    monkeypatch.setenv("ACME_SMTP_PASSWORD", "app-password-123")
    assert world.cli("bootstrap").code == 0
    [email] = alertmanager_config(world)["receivers"][0]["email_configs"]
    assert (email["to"], email["smarthost"], email["auth_password"]) == (
        "oncall@acme.example",
        "smtp.acme.example:587",
        "app-password-123",
    )
    assert "app-password-123" not in (world.project_dir / "sreplat.toml").read_text()


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"alert_webhook_url": WEBHOOK, "alert_email_to": "a@b.example"}, "not both"),
        (
            {"alert_email_to": "a@b.example"},
            "alert_email_to needs alert_email_from and alert_email_smarthost",
        ),
        ({"alert_webhook_url": "ftp://x"}, "an http(s) URL"),
        ({"alert_email_password_env": "lower-case"}, "the name of an environment variable"),
        ({"trace_sampling_ratio": 1.5}, "trace_sampling_ratio"),
    ],
)
def test_bad_observability_settings_exit_2_before_anything(
    world: World, settings: dict[str, Any], words: str
) -> None:
    world.configure(**settings)
    run = world.cli("bootstrap")
    assert run.code == 2
    assert words in run.error["message"], run.error["message"]
    assert world.calls() == []


def app_line(service: str, message: str, ts: datetime, trace: str | None, **fields: Any) -> dict[str, Any]:
    """A line exactly as the apps write it (their own formatter), inside a span or not."""
    record = logging.LogRecord(f"sreplat_apps.{service}", logging.INFO, "x", 0, message, None, None)
    record.created = ts.timestamp()
    record.trace_id = trace
    record.span_id = "00f067aa0ba902b7" if trace else None
    record.trace_sampled = True
    record.__dict__.update(fields)
    return json.loads(JsonFormatter(service, PROJECT).format(record))  # type: ignore[no-any-return]


def ingest(world: World, line: dict[str, Any], container: str, cluster: str = f"sreplat-{ENV}") -> None:
    labels = {
        "location": REGION,
        "cluster_name": cluster,
        "namespace_name": "sreplat",
        "container_name": container,
        "pod_name": f"{container}-5d9f7c6b8-{container[:1]}x2x4",
    }
    world.logging.add_line(line, project=PROJECT, resource_labels=labels)


def test_logs_come_from_cloud_logging_one_trace_across_api_and_worker(world: World) -> None:
    now = datetime.now(UTC)
    ingest(world, app_line("api", "request", now - timedelta(seconds=3), TRACE, route="/process"), "api")
    ingest(
        world, app_line("worker", "job finished", now - timedelta(seconds=2), TRACE, job_id="j1"), "worker"
    )
    ingest(world, app_line("api", "request", now - timedelta(seconds=1), "f" * 32, route="/process"), "api")
    ingest(world, app_line("worker", "started", now - timedelta(hours=2), None), "worker")
    ingest(world, app_line("api", "request", now, TRACE), "api", cluster="someone-elses")  # another cluster

    traced = world.cli("logs", "--trace", TRACE)

    assert traced.code == 0, traced.err[-3000:]
    lines = traced.events("log")
    assert [(line["service"], line["msg"]) for line in lines] == [
        ("api", "request"),
        ("worker", "job finished"),
    ]
    assert {line["trace_id"] for line in lines} == {TRACE}  # from LogEntry.trace
    assert lines[0]["source"] == "api-5d9f7c6b8-ax2x4" and lines[1]["fields"]["job_id"] == "j1"
    assert lines[0]["ts"] < lines[1]["ts"]
    sent = world.logging.filters[-1]
    assert f'trace="projects/{PROJECT}/traces/{TRACE}"' in sent
    assert 'resource.type="k8s_container"' in sent and 'resource.labels.namespace_name="sreplat"' in sent

    recent = world.cli("logs", "worker", "--since", "10m")
    assert [line["msg"] for line in recent.events("log")] == ["job finished"]
    assert recent.result["lines"] == 1


def test_follow_polls_for_new_entries_and_shows_each_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sreplat.config import load_environment
    from sreplat.logs import LogQuery
    from sreplat.targets import REGISTRY, load_target
    from sreplat.targets.gcp import observability

    monkeypatch.setattr(observability, "FOLLOW_POLL_S", 0.05)
    now = datetime.now(UTC)
    ingest(world, app_line("api", "first", now - timedelta(seconds=5), TRACE), "api")
    target = load_target(load_environment("dev", registry=REGISTRY), world.seams)
    lines = target.logs(LogQuery(components=("api",), follow=True))

    assert next(lines).message == "first"
    ingest(world, app_line("api", "second", now - timedelta(seconds=1), TRACE), "api")
    assert next(lines).message == "second"
    # An entry ingested late, older than the newest one shown: still shown; none repeated.
    ingest(world, app_line("api", "late", now - timedelta(seconds=3), TRACE), "api")
    ingest(world, app_line("api", "third", now, TRACE), "api")
    assert [next(lines).message, next(lines).message] == ["late", "third"]
    assert all('timestamp>"' in f for f in world.logging.filters[1:])  # each poll from the last seen
