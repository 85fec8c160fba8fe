"""A stand-in for the public Web PKI: one throwaway CA per test run, trusted the way a real public
CA is — through the system trust store (``SSL_CERT_FILE``: this machine's bundle plus the
throwaway CA), never handed to a client explicitly.

Servers that present publicly trusted certificates in reality use it: the load balancer (a
Google-managed certificate) and the GKE control plane's DNS-based endpoint (``*.gke.goog``, which
gcloud's kubeconfig trusts without the cluster CA: googlecloudsdk/api_lib/container/kubeconfig.py
``Cluster(..., has_dns_endpoint=True)`` writes no ``certificate-authority-data``).

The variable must be in the environment the process *started* with: the Helm SDK is Go, loaded
in-process by ``import helm_python``, and the Go runtime of a shared library takes its environment
from the process's initial ``envp`` (the array after ``argv``), not from libc's current
``environ`` (the Makefile sets ``KUBECACHEDIR`` for the same reason). Setting ``os.environ`` before
the first import is therefore not enough, checked with helm_python 0.2.2: it seems to work only
when it overwrites a variable that was already there and nothing has yet made libc move
``environ`` off that initial array — pytest adds variables of its own first, and then Go still
sees the old value ("x509: certificate signed by unknown authority"). So ``install()`` — called by
tests/conftest.py before any test module loads — makes the CA, writes the bundle and re-executes
the same command once with ``SSL_CERT_FILE`` set; the re-executed process (same pid) finds both
in its initial environment and keeps them. Subprocesses inherit them. (A plain script — a
benchmark — may call ``install()`` first thing as well.)
"""

from __future__ import annotations

import atexit
import os
import shutil
import ssl
import sys
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

SYSTEM_BUNDLE = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")
PKI_DIR = "TESTS_PUBLIC_PKI_DIR"  # not SREPLAT_*: the suite's autouse fixture clears those
OWNER = "TESTS_PUBLIC_PKI_OWNER"  # the pid that removes the folder at exit
BUNDLE, CA_CERT, CA_KEY = "bundle.pem", "ca.pem", "ca.key"


def _initial_environment() -> dict[str, str]:
    """The environment this process was started with (Linux: /proc/self/environ)."""
    try:
        raw = Path("/proc/self/environ").read_bytes()
    except OSError:
        return dict(os.environ)
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {key: value for key, _, value in pairs}


def _ready(folder: str) -> bool:
    return all((Path(folder) / name).is_file() for name in (BUNDLE, CA_CERT, CA_KEY))


@cache
def install(before_exec: Callable[[], None] = lambda: None) -> Path:
    """Make sure ``SSL_CERT_FILE`` (in the initial environment) names a bundle with the public CA;
    re-executes the current command once if it does not (``before_exec`` first: pytest gives
    the terminal back there). Returns the bundle."""
    initial = _initial_environment()
    folder = initial.get(PKI_DIR, "")
    if folder and _ready(folder) and initial.get("SSL_CERT_FILE") == str(Path(folder) / BUNDLE):
        if initial.get(OWNER) == str(os.getpid()):
            atexit.register(shutil.rmtree, folder, True)
        return Path(folder) / BUNDLE
    created = Path(tempfile.mkdtemp(prefix="sreplat-public-pki-"))
    import trustme

    ca = trustme.CA(organization_name="sreplat tests public CA")
    (created / CA_CERT).write_bytes(ca.cert_pem.bytes())
    (created / CA_KEY).write_bytes(ca.private_key_pem.bytes())
    system = SYSTEM_BUNDLE.read_bytes() if SYSTEM_BUNDLE.is_file() else b""
    (created / BUNDLE).write_bytes(system + b"\n" + ca.cert_pem.bytes())
    environment = {
        **os.environ,
        "SSL_CERT_FILE": str(created / BUNDLE),
        PKI_DIR: str(created),
        OWNER: str(os.getpid()),
    }
    before_exec()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, sys.orig_argv, environment)  # noqa: S606 (the same command, once)
    raise AssertionError("unreachable")


@cache
def _ca() -> Any:
    import trustme

    folder = Path(install()).parent
    return trustme.CA.from_pem((folder / CA_CERT).read_bytes(), (folder / CA_KEY).read_bytes())


def server_context(*hosts: str) -> ssl.SSLContext:
    """A server TLS context presenting a publicly trusted certificate for ``hosts``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _ca().issue_cert(*hosts).configure_cert(context)
    return context
