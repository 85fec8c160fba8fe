"""``POST /process`` served in front of Flask's dispatch: the same code, less overhead per request.

Flask's request cycle (request and app contexts, URL matching, signals, hooks, a ``Response``
object and its header processing) costs about as much CPU as the request's own work. This WSGI
middleware (installed on ``app.wsgi_app``, the way Flask documents middleware) takes the one
request that carries traffic — a POST to ``/process`` — and calls what the Flask route calls:
``routes.read_body`` and ``routes.submit`` for the contract, ``RequestTelemetry`` for the span,
metrics and log line, ``errors.response_for`` for every refusal. Anything else (other routes and
methods) goes to Flask unchanged. Tests drive both ways (tests/apps/test_hotpath.py).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING

from werkzeug.http import parse_options_header

from sreplat_apps.api import errors, routes
from sreplat_apps.api.observability import ENVIRON_GETTER, RequestTelemetry

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from flask import Flask

    from sreplat_apps.jobs import JobStore
    from sreplat_apps.settings import Settings

ROUTE = "/process"
_STATUS = "202 ACCEPTED"  # as werkzeug spells it


@functools.lru_cache(maxsize=64)
def _mimetype(content_type: str) -> str:
    # Exactly werkzeug's ``Request.mimetype``; clients send few distinct values.
    return parse_options_header(content_type)[0].lower()


class HotPath:
    def __init__(self, app: Flask, flask_wsgi_app: WSGIApplication) -> None:
        settings: Settings = app.config["SREPLAT_SETTINGS"]
        self.flask_wsgi_app = flask_wsgi_app
        self.store: JobStore = app.extensions["sreplat.jobs"]
        self.telemetry: RequestTelemetry = app.extensions["sreplat.telemetry"]
        self.max_body_bytes = settings.max_body_bytes

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != ROUTE or environ.get("REQUEST_METHOD") != "POST":
            return self.flask_wsgi_app(environ, start_response)
        return self._process(environ, start_response)

    def _process(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        telemetry = self.telemetry
        active = telemetry.begin("POST", ROUTE, ROUTE, environ, ENVIRON_GETTER)
        limit = self.max_body_bytes
        try:
            try:
                length = routes.content_length(environ)
                if length is not None and length > limit:
                    raise routes.payload_too_large(limit)
                submission = routes.submit(
                    self.store,
                    _mimetype(environ.get("CONTENT_TYPE", "")),
                    lambda: routes.read_body(environ, limit),
                    environ.get("HTTP_IDEMPOTENCY_KEY"),
                )
            except Exception as exc:
                response = errors.response_for(exc)
                telemetry.finish(active, response.status_code)
                return response(environ, start_response)
            body = submission.body
            start_response(
                _STATUS,
                [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(body))),
                    *submission.headers,
                ],
            )
            telemetry.finish(active, 202)
            return [body]
        finally:
            telemetry.end(active)
