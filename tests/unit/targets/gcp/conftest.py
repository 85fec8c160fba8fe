"""The GCP and Kubernetes API doubles (tests/doubles/fixtures.py) for the gcp target's tests, and
``world`` (world.py here): all of them wired together for end-to-end runs of the target."""

from tests.doubles.fixtures import *  # noqa: F403
from tests.unit.targets.gcp.world import world  # noqa: F401
