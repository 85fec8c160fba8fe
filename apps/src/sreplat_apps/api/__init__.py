"""The sreplat API: ``create_app`` builds the Flask application (DESIGN §5).

``config`` (all optional): ``SETTINGS`` (a ``Settings``; default from the environment),
``REDIS`` (a redis client to use instead of connecting to ``REDIS_URL``), ``SPAN_EXPORTERS``
(extra OpenTelemetry exporters, e.g. in-memory ones in tests).

Metrics are per-process files when ``PROMETHEUS_MULTIPROC_DIR`` is set before the first import
of prometheus_client (``sreplat-api`` sets it for its workers), in memory otherwise (tests,
``flask run``). ``create_app`` changes no environment variable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import Flask


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    options = dict(config or {})
    from sreplat_apps.settings import Settings

    settings: Settings = options.pop("SETTINGS", None) or Settings.from_env()
    from sreplat_apps.api import errors, openapi, routes
    from sreplat_apps.api.hotpath import HotPath
    from sreplat_apps.api.observability import RequestTelemetry
    from sreplat_apps.jobs import JobStore, connect
    from sreplat_apps.telemetry import logs

    logs.setup("api", settings.log_level, project=settings.gcp_project)
    app = Flask(__name__)
    app.config.update(
        SREPLAT_SETTINGS=settings,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        SPAN_EXPORTERS=options.pop("SPAN_EXPORTERS", ()),
    )
    app.config.update(options)
    connection = options.get("REDIS") or connect(settings, client_name="sreplat-api", retry_timeouts=False)
    app.extensions["sreplat.jobs"] = JobStore(settings, connection)
    app.extensions["sreplat.openapi"] = json.dumps(
        openapi.build(settings.release, settings.max_body_bytes), indent=2
    ).encode()
    RequestTelemetry(app)  # first: its before_request opens the span the others run in
    errors.register(app)
    app.register_blueprint(routes.bp)
    # POST /process, the route that takes the traffic, skips Flask's per-request machinery.
    app.wsgi_app = HotPath(app, app.wsgi_app)  # type: ignore[method-assign]
    return app
