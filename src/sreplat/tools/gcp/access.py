"""How the adapters reach Google Cloud: the project, the credentials, per-service endpoint
overrides (injected where the session is assembled; tests point them at local doubles), and the
translation of client-library errors into sreplat errors.

Credentials come, in order, from ``GcpAccess.credentials`` when given, from the
``GOOGLE_OAUTH_ACCESS_TOKEN`` environment variable (a bare access token, the variable the
Terraform Google provider reads too), or from Application Default Credentials. Nothing here
writes a key or token to disk.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

from sreplat.errors import OperationFailed, UsageError
from sreplat.tools.api_calls import (
    AccessDenied,
    AlreadyExists,
    ApiUnreachable,
    CallTimeout,
    Deadline,
    PermissionDenied,
    PreconditionFailed,
    ResourceMissing,
    call_with_deadline,
)

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

T = TypeVar("T")

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
ACCESS_TOKEN_ENV = "GOOGLE_OAUTH_ACCESS_TOKEN"  # noqa: S105 (a variable name)
# Project ids: 6-30 chars, lowercase letters, digits, hyphens; a letter first; no trailing hyphen.
PROJECT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")

CREDENTIALS_HINT = (
    "run `gcloud auth application-default login`, set GOOGLE_APPLICATION_CREDENTIALS, "
    f"or set {ACCESS_TOKEN_ENV}"
)


class NoCredentials(AccessDenied):
    """No credentials at all (no token variable, no Application Default Credentials): nothing
    that needs Google Cloud can run, so callers say it once and skip the rest."""


@dataclass(frozen=True)
class GcpEndpoints:
    """Base URLs that replace the public Google API endpoints (None: the real one).

    Each is scheme + host[:port], e.g. ``http://127.0.0.1:8123`` (a test double, or a private
    endpoint). ``artifact_registry`` also serves the Docker Registry API of the image host;
    ``monitoring`` is Managed Service for Prometheus' query API. They are chosen where the CLI
    session is assembled (``targets.gcp.seams``), never read from the environment here.
    """

    storage: str | None = None
    container: str | None = None
    dns: str | None = None
    compute: str | None = None
    artifact_registry: str | None = None
    cloudbuild: str | None = None
    monitoring: str | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and not re.fullmatch(r"https?://[^/\s]+", value):
                raise ValueError(f"the {f.name} endpoint {value!r} is not a base URL (scheme://host[:port])")

    def options(self, service: str) -> dict[str, str] | None:
        """``client_options`` for a google-cloud client of ``service`` (a field name)."""
        endpoint: str | None = getattr(self, service)
        return {"api_endpoint": endpoint} if endpoint else None


@dataclass(frozen=True)
class GcpAccess:
    """Everything an adapter needs to call a Google API for one project."""

    project: str
    credentials: Credentials | None = field(default=None, repr=False)
    endpoints: GcpEndpoints = field(default_factory=GcpEndpoints)

    def __post_init__(self) -> None:
        validate_project_id(self.project)

    def resolved_credentials(self) -> Credentials:
        return self.credentials if self.credentials is not None else default_credentials()


def validate_project_id(project: str) -> None:
    if not PROJECT_ID.fullmatch(project):
        raise UsageError(
            f"invalid GCP project id {project!r}",
            hint="6-30 characters: lowercase letters, digits and hyphens, starting with a letter",
        )


def default_credentials(environ: Mapping[str, str] | None = None) -> Credentials:
    """Credentials from ``GOOGLE_OAUTH_ACCESS_TOKEN`` or Application Default Credentials."""
    env = os.environ if environ is None else environ
    token = env.get(ACCESS_TOKEN_ENV, "").strip()
    if token:
        from google.oauth2.credentials import Credentials as TokenCredentials

        return TokenCredentials(token=token)  # type: ignore[no-untyped-call]
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, _project = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    except DefaultCredentialsError as exc:
        raise NoCredentials(
            "no Google Cloud credentials found", hint=CREDENTIALS_HINT, detail=str(exc)
        ) from exc
    return credentials


def access_token(credentials: Credentials, deadline: Deadline) -> str:
    """A currently valid access token for ``credentials``, refreshing it if needed."""
    if not credentials.valid:
        from google.auth.exceptions import GoogleAuthError

        try:
            credentials.refresh(_request_with_timeout(deadline))  # type: ignore[no-untyped-call]
        except GoogleAuthError as exc:
            raise translate_google_error(exc, "refreshing the Google access token", deadline) from exc
    token = credentials.token
    if not token:
        raise AccessDenied(
            "the Google credentials carry no access token (anonymous credentials?)", hint=CREDENTIALS_HINT
        )
    return str(token)


def _request_with_timeout(deadline: Deadline) -> Any:
    """A google-auth transport request whose every HTTP call is bounded by ``deadline``."""
    import google.auth.transport.requests

    class _Request(google.auth.transport.requests.Request):
        def __call__(
            self,
            url: str,
            method: str = "GET",
            body: Any = None,
            headers: Any = None,
            timeout: Any = None,
            **kwargs: Any,
        ) -> Any:
            return super().__call__(  # type: ignore[no-untyped-call]
                url, method, body, headers, timeout=max(deadline.remaining(), 0.01), **kwargs
            )

    return _Request()


def deadline_session(credentials: Credentials, deadline: Deadline) -> Any:
    """An authorized requests session whose every request gets the time left on ``deadline``.

    For clients whose methods take no timeout (google-cloud-dns): pass it as their ``_http``.
    """
    from google.auth.transport.requests import AuthorizedSession

    class _Session(AuthorizedSession):
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            kwargs["timeout"] = max(deadline.remaining(), 0.01)
            kwargs["max_allowed_time"] = max(deadline.remaining(), 0.01)
            return super().request(method, url, *args, **kwargs)  # type: ignore[no-untyped-call]

    return _Session(credentials)  # type: ignore[no-untyped-call]


def gcp_call(what: str, deadline: Deadline, attempt: Callable[[float], T]) -> T:
    """Run one Google API call under ``deadline`` (see ``api_calls.call_with_deadline``)."""
    return call_with_deadline(
        what, deadline, attempt, is_transient=is_transient_google_error, translate=translate_google_error
    )


def is_transient_google_error(exc: BaseException) -> bool:
    import requests
    from google.api_core.retry import if_transient_error

    if isinstance(exc, requests.exceptions.Timeout):
        return False  # the attempt already used the time that was left
    return (isinstance(exc, Exception) and bool(if_transient_error(exc))) or _status(exc) in (
        429,
        500,
        502,
        503,
        504,
    )


def _status(exc: BaseException) -> int | None:
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) else None


def server_message(exc: BaseException) -> str:
    """The server's own words, without the ``404 GET https://...:`` prefix the clients add."""
    message = str(getattr(exc, "message", "") or exc)
    message = re.sub(r"^(\d{3} )?(GET|POST|PUT|PATCH|DELETE|HEAD) \S+: ", "", message)
    return message.strip().splitlines()[0] if message.strip() else type(exc).__name__


def translate_google_error(exc: BaseException, what: str, deadline: Deadline) -> Exception:  # noqa: PLR0911
    """Map an exception from google-cloud / google-auth / requests to a sreplat error."""
    import requests
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    if isinstance(exc, OperationFailed):
        return exc
    if isinstance(exc, requests.exceptions.Timeout | gexc.DeadlineExceeded | gexc.RetryError | TimeoutError):
        return CallTimeout(f"{what}: no answer within {deadline.timeout:g}s", detail=str(exc))
    if isinstance(exc, requests.exceptions.ConnectionError | auth_exc.TransportError):
        return ApiUnreachable(
            f"{what}: cannot reach the API", hint="check the network and any proxy settings", detail=str(exc)
        )
    if isinstance(exc, auth_exc.RefreshError | auth_exc.DefaultCredentialsError):
        return AccessDenied(f"{what}: the Google credentials cannot be used: {exc}", hint=CREDENTIALS_HINT)
    status = _status(exc)
    message = server_message(exc)
    if status == 401:
        return AccessDenied(f"{what}: credentials rejected: {message}", hint=CREDENTIALS_HINT)
    if status == 403:
        return PermissionDenied(
            f"{what}: permission denied: {message}",
            hint="the account needs the IAM roles listed in the README on this project",
        )
    if status == 404:
        return ResourceMissing(f"{what}: not found: {message}")
    if status == 409:
        return AlreadyExists(f"{what}: already exists: {message}")
    if status == 412:
        return PreconditionFailed(f"{what}: precondition failed: {message}")
    if status is not None:
        return OperationFailed(f"{what}: HTTP {status}: {message}", detail=str(exc))
    return OperationFailed(f"{what}: {type(exc).__name__}: {exc}", detail=repr(exc))
