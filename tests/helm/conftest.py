"""The Kubernetes API double (tests/doubles/fixtures.py: HTTPS with a throwaway CA and a bearer
token, as a GKE control plane) for the chart tests that install releases."""

from tests.doubles.fixtures import kube_ca_pem, kube_double, kube_tls  # noqa: F401
