"""The GCP and Kubernetes API doubles (see tests/doubles/fixtures.py) for the gcp tests, and
``world`` (tests/gcp/world.py): all of them wired together for end-to-end runs of the target."""

from tests.doubles.fixtures import *  # noqa: F403
from tests.gcp.world import world  # noqa: F401
