"""The Kubernetes API double (tests/doubles/kube.py, HTTPS with a throwaway CA and a bearer
token, as a GKE control plane) for the release manager's tests."""

from tests.doubles.fixtures import kube_ca_pem, kube_double, kube_tls  # noqa: F401
