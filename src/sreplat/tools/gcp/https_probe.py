"""HTTPS requests to a host through a known address: the load balancer in front of the API.

``get("https://34.120.0.10", "/healthz", host="api.dev.acme.example")`` connects to the address,
sends the host as TLS SNI and ``Host`` header, and verifies the certificate for the host — what a
browser does once DNS points at the address, but without waiting for DNS: a deploy can check the
load balancer even while the domain's delegation is still propagating. Certificates are checked
against the system's trust store (``SSL_CERT_FILE``/``SSL_CERT_DIR`` are honoured).
"""

from __future__ import annotations

import ssl

from sreplat.tools.http_probe import HttpAnswer


def get(base_url: str, path: str, *, host: str, timeout_s: float = 5.0) -> HttpAnswer:
    """GET ``path`` from ``base_url`` (``https://address[:port]``) as ``https://host``.

    Never raises for network or TLS trouble: ``status`` 0 and ``error`` say what happened (a
    certificate that does not cover the host is such a case: ``CERTIFICATE_VERIFY_FAILED``).
    """
    import httpx

    context = ssl.create_default_context()
    try:
        with httpx.Client(verify=context, timeout=timeout_s, trust_env=False) as client:
            response = client.get(
                base_url.rstrip("/") + path,
                headers={"Host": host, "Connection": "close"},
                extensions={"sni_hostname": host},
            )
        return HttpAnswer(response.status_code, response.text)
    except httpx.HTTPError as exc:
        cause = exc.__cause__ or exc.__context__
        text = str(cause or exc) or type(exc).__name__
        return HttpAnswer(0, "", f"{type(exc).__name__}: {text}")
