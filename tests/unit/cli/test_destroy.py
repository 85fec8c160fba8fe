"""``destroy`` of a local environment whose processes are gone (a crash, a reboot): the verb runs
for real — nothing to stop, no process left, ports free — and removes the state dir, keeping
Redis' data with ``--keep-data``; its log goes next to the state dir it removes."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from sreplat.tools.local import ports as local_ports
from tests.unit.cli.conftest import Cli

STATE_FILES = ("redis/data/appendonlydir/a.aof", "redis/redis.conf", "logs/api.log", "runtime/x")


@pytest.fixture
def left_behind(state_root: Path) -> Path:
    """A local environment's state dir as a crashed machine leaves it."""
    state = state_root / "local"
    for name in STATE_FILES:
        path = state / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    (state / "releases").mkdir()
    (state / "releases" / "current").symlink_to("elsewhere")
    return state


def ports() -> list[str]:
    """Free ports below Linux's ephemeral range (32768-60999), where no outgoing connection of
    another test can take one while destroy checks that nothing listens there any more."""
    keys = ("api_port", "redis_port", "worker_metrics_port")
    chosen = [p for p in random.sample(range(20000, 30000, 3), 50) if local_ports.is_free(p)][: len(keys)]
    return [f"--set={key}={port}" for key, port in zip(keys, chosen, strict=True)]


def test_destroy_removes_the_whole_state_dir(cli: Cli, left_behind: Path, state_root: Path) -> None:
    result = cli("--output", "json", "destroy", "--yes", *ports())

    assert result.code == 0, result.err
    assert not left_behind.exists()
    steps = {
        line["step"]: line["status"] for line in result.json_lines() if line.get("event") == "step.finish"
    }
    assert steps == {"stop": "skipped", "leftovers": "skipped"}  # nothing ran any more
    assert (state_root / "local.destroy.log").is_file()  # the log outlives the state dir


def test_keep_data_keeps_redis_data_and_only_it(cli: Cli, left_behind: Path) -> None:
    result = cli("destroy", "--yes", "--keep-data", *ports())

    assert result.code == 0, result.err
    left = sorted(str(p.relative_to(left_behind)) for p in left_behind.rglob("*"))
    assert left == ["redis", "redis/data", "redis/data/appendonlydir", "redis/data/appendonlydir/a.aof"]
