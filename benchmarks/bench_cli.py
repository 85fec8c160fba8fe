"""CLI start-up and the local target's bootstrap/status (``make bench-cli``): figures and ratios,
never asserted.

Everything runs side by side in this one invocation, on this machine:

help       ``sreplat --help`` versus ``python -c "import typer"`` (the floor any Typer CLI pays),
           alternating runs so a noisy neighbour hurts both alike. Goal: ratio <= 1.3.
version    ``sreplat version`` against the same floor (it runs a command: Typer coerces options).
bootstrap  ``sreplat bootstrap`` of a fresh local environment (free ports, its own state root),
           from nothing to ready: supervisord, redis-server, the API answering /readyz, every
           worker registered. Baseline: ``sreplat bootstrap`` again on the running environment
           (everything checked, nothing to do). Each round ends with ``sreplat destroy --yes``.
status     ``sreplat status`` of the running environment (about a dozen concurrent checks)
           versus ``sreplat version`` (the CLI's own start-up).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.local_env import port_settings, set_flags  # noqa: E402

SREPLAT = [sys.executable, "-c", "import sys; from sreplat.cli.main import main; sys.exit(main())"]
TYPER_FLOOR = [sys.executable, "-c", "import typer"]


def wall(argv: Sequence[str], env: dict[str, str] | None = None, check: bool = True) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        argv, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    elapsed = time.perf_counter() - started
    if check and done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-2000:]}")
    return elapsed


def alternate(a: Sequence[str], b: Sequence[str], rounds: int) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for _ in range(rounds):
        xs.append(wall(a))
        ys.append(wall(b))
    return xs, ys


def ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:7.1f} ms  (min {min(values) * 1000:.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="start-up rounds (default 30)")
    parser.add_argument("--bootstraps", type=int, default=3, help="bootstrap rounds (default 3)")
    args = parser.parse_args()

    print(f"sreplat CLI benchmark: python {sys.version.split()[0]}, {os.cpu_count()} cores\n")
    floor, helps = alternate(TYPER_FLOOR, [*SREPLAT, "--help"], args.rounds)
    _, versions = alternate(TYPER_FLOOR, [*SREPLAT, "version"], args.rounds)
    help_ratio = statistics.median(helps) / statistics.median(floor)
    print(f"import typer        {ms(floor)}")
    print(f"sreplat --help      {ms(helps)}   ratio {help_ratio:.2f} (goal <= 1.3)")
    print(
        f"sreplat version     {ms(versions)}   "
        f"ratio {statistics.median(versions) / statistics.median(floor):.2f}"
    )

    with tempfile.TemporaryDirectory(prefix="sreplat-bench-") as scratch:
        env = {**os.environ, "SREPLAT_STATE_ROOT": str(Path(scratch) / "state"), "NO_COLOR": "1"}
        os.chdir(scratch)  # no sreplat.toml around: the embedded local environment
        flags = set_flags(port_settings())
        cold, warm, statuses, baseline = [], [], [], []
        try:
            for _ in range(args.bootstraps):
                cold.append(wall([*SREPLAT, "bootstrap", "-q", *flags], env))
                warm.append(wall([*SREPLAT, "bootstrap", "-q", *flags], env))
                for _ in range(5):
                    statuses.append(wall([*SREPLAT, "status", "-q", *flags], env))
                    baseline.append(wall([*SREPLAT, "version"], env))
                wall([*SREPLAT, "destroy", "--yes", "-q", *flags], env)
        finally:
            wall([*SREPLAT, "destroy", "--yes", "-q", *flags], env, check=False)
        print()
        print(f"bootstrap (fresh)   {ms(cold)}")
        print(
            f"bootstrap (up)      {ms(warm)}   "
            f"fresh/up ratio {statistics.median(cold) / statistics.median(warm):.1f}"
        )
        print(f"status              {ms(statuses)}")
        print(
            f"version (baseline)  {ms(baseline)}   status/version ratio "
            f"{statistics.median(statuses) / statistics.median(baseline):.1f}"
        )


if __name__ == "__main__":
    main()
