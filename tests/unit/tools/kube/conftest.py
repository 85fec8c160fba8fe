"""The GCP and Kubernetes API doubles (tests/doubles/fixtures.py) for the tests here."""

from tests.doubles.fixtures import *  # noqa: F403
