"""Observability on the gcp target: the chart values that turn it on, the ``slo`` status check and
``sreplat logs``.

Values (the platform chart's ``collector``, ``grafana``, ``slo``, ``alerting``; the apps' ``otel``
and ``gcpProject``; names in docs/contracts.md):

- the collector and the Managed Prometheus frontend run as the Google service accounts of the
  foundation output ``observability_service_accounts``; Google APIs at ``google_apis_cidr``;
- the SLO rules are ``sreplat.slo``'s groups with every aggregation kept per
  ``GMP_GROUP_BY`` (project, location, cluster, namespace);
- alerts go to the one receiver of sreplat.toml (webhook or email); an SMTP password comes from
  the environment variable ``alert_email_password_env`` names, never from the file;
- api and worker export spans to ``http://otel-collector:4318`` at ``trace_sampling_ratio``.

The ``slo`` check reads the recorded series from Managed Service for Prometheus (its
Prometheus-compatible query API), scoped to this cluster and namespace. ``logs`` reads Cloud
Logging: the ``k8s_container`` entries of the namespace's api, worker and redis containers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sreplat.errors import UsageError
from sreplat.logs import LogLine, LogQuery
from sreplat.pipeline.checks import Finding, unknown
from sreplat.slo.model import Slo, load_slos
from sreplat.slo.render import helm_values
from sreplat.slo.rules import GMP_GROUP_BY, RuleSettings, rule_groups
from sreplat.targets.gcp.context import NAMESPACE, GcpContext
from sreplat.targets.gcp.data import APPS, FoundationOutputs
from sreplat.targets.gcp.settings import GcpSettings
from sreplat.targets.slo_check import slo_finding

COLLECTOR_ENDPOINT = "http://otel-collector:4318"  # the platform chart's Service (docs/contracts.md)
# Container names of the charts' pods (helm/<chart>/templates: the main container of each).
CONTAINERS = {"api": "api", "worker": "worker", "redis": "redis"}
FOLLOW_POLL_S = 5.0  # entries.list is a read request: 60 per minute per project by default


class Observability:
    def __init__(self, ctx: GcpContext):
        self.ctx = ctx
        self.settings: GcpSettings = ctx.settings

    # --- settings that can only be checked now ---------------------------------------------
    @property
    def slo_dir(self) -> Path:
        return self.settings.slo_dir or self.ctx.env.project_root / "slo"

    def slos(self) -> tuple[Slo, ...]:
        return load_slos(self.slo_dir)  # SloError (exit 2) names the file and the field

    def smtp_password(self) -> str | None:
        name = self.settings.alert_email_password_env
        if name is None:
            return None
        value = os.environ.get(name, "")
        if not value:
            raise UsageError(
                f"alert_email_password_env names {name}, which is not set: the SMTP password is missing",
                hint=f"export {name}=... (the password never goes in sreplat.toml)",
            )
        return value

    def check(self) -> None:
        """UsageError/SloError before anything is created: the SLO files and the SMTP password."""
        self.slos()
        self.smtp_password()

    # --- chart values --------------------------------------------------------------------------
    def platform_values(self, foundation: FoundationOutputs) -> dict[str, Any]:
        s = self.settings
        groups = rule_groups(self.slos(), RuleSettings(group_by=GMP_GROUP_BY))
        values: dict[str, Any] = {"gcp": {"projectId": s.project}, **helm_values(groups)}
        accounts = foundation.observability_service_accounts
        if accounts.get("collector"):
            values["collector"] = {"enabled": True, "gcpServiceAccount": accounts["collector"]}
        if accounts.get("gmp_frontend"):
            values["grafana"] = {
                "enabled": True,
                "gmpFrontend": {"gcpServiceAccount": accounts["gmp_frontend"]},
            }
        if foundation.google_apis_cidr:
            values["googleApis"] = {"cidrs": [foundation.google_apis_cidr]}
        alerting = self.alerting_values()
        if alerting:
            values["alerting"] = alerting
        return values

    def alerting_values(self) -> dict[str, Any]:
        s = self.settings
        if s.alert_webhook_url:
            return {"enabled": True, "webhook": {"url": s.alert_webhook_url}}
        if s.alert_email_to:
            email: dict[str, Any] = {
                "to": s.alert_email_to,
                "from": s.alert_email_from or "",
                "smarthost": s.alert_email_smarthost or "",
            }
            if s.alert_email_username:
                email |= {"authUsername": s.alert_email_username, "authPassword": self.smtp_password()}
            return {"enabled": True, "email": email}
        return {}

    def app_values(self, foundation: FoundationOutputs) -> dict[str, Any]:
        values: dict[str, Any] = {"gcpProject": self.settings.project}
        if foundation.observability_service_accounts.get("collector"):
            values["otel"] = {
                "endpoint": COLLECTOR_ENDPOINT,
                "samplingRatio": self.settings.trace_sampling_ratio,
            }
        return values

    def values(self, foundation: FoundationOutputs) -> dict[str, dict[str, Any]]:
        """release → its observability values (none for redis): a ``releases.ReleasePlan``'s
        ``observability``."""
        return {"platform": self.platform_values(foundation)} | {
            app: self.app_values(foundation) for app in APPS
        }

    # --- status --------------------------------------------------------------------------------
    def slo_check(self, *, timeout: float) -> Finding:
        from sreplat.tools.gcp.managed_prometheus import query

        slos = self.slos()
        if not slos:
            return unknown(f"no SLO files in {self.slo_dir}")
        selector = f'cluster="{self.settings.cluster_name}",namespace="{NAMESPACE}"'
        return slo_finding(
            slos,
            lambda promql: query(self.ctx.access, promql, timeout=timeout),
            selector=selector,
            where="Managed Service for Prometheus",
        )

    # --- logs ----------------------------------------------------------------------------------
    def log_filter(self, query: LogQuery, *, after: str | None = None) -> str:
        """The Cloud Logging query (cloud.google.com/logging/docs/view/logging-query-language)."""
        s = self.settings
        containers = " OR ".join(f'"{CONTAINERS[c]}"' for c in query.components)
        clauses = [
            'resource.type="k8s_container"',
            f'resource.labels.project_id="{s.project}"',
            f'resource.labels.location="{s.region}"',
            f'resource.labels.cluster_name="{s.cluster_name}"',
            f'resource.labels.namespace_name="{NAMESPACE}"',
            f"resource.labels.container_name=({containers})",
        ]
        cutoff = query.cutoff()
        if after is not None:
            clauses.append(f'timestamp>"{after}"')
        elif cutoff is not None:
            clauses.append(f'timestamp>="{cutoff.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}"')
        if query.trace_id is not None:
            # The agent moves the line's logging.googleapis.com/trace into LogEntry.trace.
            clauses.append(f'trace="projects/{s.project}/traces/{query.trace_id}"')
        return "\n".join(clauses)

    def logs(self, query: LogQuery) -> Iterator[LogLine]:
        from sreplat.tools.gcp.cloud_logging import list_entries

        seen: set[str] = set()
        last: str | None = None
        for entry in list_entries(self.ctx.access, self.log_filter(query)):
            seen.add(entry.insert_id)
            last = entry.timestamp or last
            yield entry.line
        while query.follow:
            time.sleep(FOLLOW_POLL_S)
            # Entries may arrive late and share a timestamp: look again from the last one seen
            # and skip the insert ids already shown.
            for entry in list_entries(self.ctx.access, self.log_filter(query, after=_minus_a_minute(last))):
                if entry.insert_id in seen:
                    continue
                seen.add(entry.insert_id)
                last = max(last or "", entry.timestamp or "")
                yield entry.line


def _minus_a_minute(timestamp: str | None) -> str:
    """A minute before ``timestamp`` (RFC 3339), or before now: Cloud Logging ingests with delay."""
    from datetime import UTC, datetime, timedelta

    from sreplat.logs import parse_ts

    when = parse_ts(timestamp) or datetime.now(UTC)
    return (when - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
