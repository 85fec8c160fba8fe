"""``destroy`` removes the state dir except what the target keeps (``--keep-data``)."""

from __future__ import annotations

from pathlib import Path

from sreplat.cli.lifecycle import remove_state


def make_state(root: Path) -> Path:
    state = root / "local"
    for name in ("redis/data/appendonlydir/a.aof", "redis/redis.conf", "logs/api.log", "lock"):
        path = state / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    (state / "releases").mkdir()
    (state / "releases" / "current").symlink_to("elsewhere")
    return state


def test_everything_goes_without_keeps(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    remove_state(state, ())
    assert not state.exists()
    assert tmp_path.exists()


def test_kept_paths_and_only_they_survive(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    remove_state(state, (state / "redis" / "data",))
    left = sorted(str(p.relative_to(state)) for p in state.rglob("*"))
    assert left == ["redis", "redis/data", "redis/data/appendonlydir", "redis/data/appendonlydir/a.aof"]


def test_missing_state_dir_is_fine(tmp_path: Path) -> None:
    remove_state(tmp_path / "nothing", ())
