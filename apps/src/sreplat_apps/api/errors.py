"""JSON errors for every failure: ``{"error": {"code", "message"}, "trace_id"}``, never a traceback."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from sreplat_apps.contract import ErrorBody, ErrorDetail, ErrorResponse
from sreplat_apps.telemetry.tracing import current_trace_id

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    503: "unavailable",
}


class ApiError(Exception):
    """An expected failure with its HTTP status, stable code and human message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: Sequence[ErrorDetail] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details) if details is not None else None
        self.headers = dict(headers or {})


def error_response(error: ApiError) -> Response:
    body = ErrorResponse(
        error=ErrorBody(code=error.code, message=error.message, details=error.details),
        trace_id=current_trace_id(),
    )
    response = Response(body.model_dump_json(), status=error.status, mimetype="application/json")
    response.headers.update(error.headers)
    return response


def redis_unavailable() -> ApiError:
    return ApiError(
        503,
        "redis_unavailable",
        "the job queue is unreachable; retry shortly",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = _HTTP_CODES.get(status) or re.sub(r"\W+", "_", (exc.name or "error").lower()).strip("_")
    response = error_response(ApiError(status, code, exc.description or exc.name or code))
    # Keep protocol headers werkzeug set (Allow on 405).
    for name in ("Allow",):
        value = exc.get_response().headers.get(name)
        if value:
            response.headers[name] = value
    return response


def _redis_down(exc: Exception) -> Response:
    log.warning("redis unavailable: %s", exc)
    return error_response(redis_unavailable())


def _circuit_open(exc: Exception) -> Response:
    # The failure that opened the circuit was logged; one line per refused request is noise.
    log.debug("redis circuit open: %s", exc)
    return error_response(redis_unavailable())


def _unexpected(exc: Exception) -> Response:
    log.exception("unhandled error")
    return error_response(ApiError(500, "internal_error", "internal error"))


def _handlers() -> list[tuple[type[Exception], Callable[[Any], Response]]]:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    from sreplat_apps.circuit import CircuitOpen

    return [
        (ApiError, error_response),
        (HTTPException, _http_error),
        (CircuitOpen, _circuit_open),
        (RedisConnectionError, _redis_down),
        (RedisTimeoutError, _redis_down),
        (Exception, _unexpected),
    ]


def register(app: Flask) -> None:
    for exc_class, handler in _handlers():
        app.register_error_handler(exc_class, handler)


def response_for(exc: Exception) -> Response:
    """What the handlers ``register`` installs answer for ``exc``, for code outside Flask's
    dispatch (``api.hotpath``). Call it in the ``except`` block: 500s log the traceback."""
    for exc_class, handler in _handlers():  # most specific first, as Flask's lookup by MRO
        if isinstance(exc, exc_class):
            return handler(exc)
    raise exc
