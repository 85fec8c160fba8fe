"""The gcp target against latency-injected doubles (``make bench-gcp``): figures and ratios, never
asserted.

The doubles of tests/unit/targets/gcp/world.py stand in for Google Cloud and the cluster (real
Terraform on the fixture stacks, the real Helm SDK, the real clients); each API gets a latency of
its own so the checks and steps take different, known-ish times.

status     ``sreplat status`` (8 checks, run side by side) against the slowest single check of
           the same run. Warm: in this process after a first run (the CLI's imports already
           paid), which measures the concurrency itself. Cold: a fresh ``sreplat status``
           process, as a user runs it (start-up and imports included). Baseline in the same
           run: the sum of the checks (what running them one after another would take).
           Goal: warm wall / slowest check <= 1.2.
bootstrap  ``sreplat bootstrap`` of a fresh environment (a fresh set of doubles per round)
           against the critical path of its DAG, from the steps' own durations in that run:
           state-bucket → foundation → max(max(cluster → namespace → platform, redis-image) → redis,
           images) → max(api, worker)
           → verify → record. Baseline in the same run: the sum of the steps (a serial runner).
           Goal: pipeline wall / critical path <= 1.1.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# client-go in the Helm SDK reads it when the library loads: before any import of it.
os.environ.setdefault("KUBECACHEDIR", str(ROOT / ".cache" / "kube"))

from tests.support import public_pki  # noqa: E402

public_pki.install()  # the stand-in public CA in SSL_CERT_FILE, for Go too (re-executes once)

from tests.support.process_env import environ  # noqa: E402
from tests.unit.targets.gcp.world import ENV, NEEDS, World, open_world  # noqa: E402


@contextlib.contextmanager
def world_in(scratch: Path) -> Iterator[tuple[World, dict[str, str]]]:
    env = {**os.environ, "NO_COLOR": "1", "SREPLAT_STATE_ROOT": str(scratch / "state")}
    for key in [k for k in env if k.startswith("SREPLAT_") and k != "SREPLAT_STATE_ROOT"]:
        del env[key]
    with open_world(scratch, setenv=env.__setitem__) as world:
        yield world, env


def cli(world: World, env: dict[str, str], *argv: str) -> tuple[float, list[dict[str, Any]]]:
    started = time.perf_counter()
    done = subprocess.run(
        world.command(*argv),
        cwd=world.project_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 3):
        raise SystemExit(f"sreplat {' '.join(argv)} exited {done.returncode}: {done.stderr[-3000:]}")
    return elapsed, [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def in_process(world: World, env: dict[str, str], *argv: str) -> tuple[float, list[dict[str, Any]]]:
    from sreplat.cli.main import main

    out = io.StringIO()
    with (
        environ(env, world.project_dir),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        started = time.perf_counter()
        main(["--output", "json", "--env", ENV, *argv], seams=world.seams)
        elapsed = time.perf_counter() - started
    return elapsed, [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]


def checks_of(lines: list[dict[str, Any]]) -> dict[str, float]:
    return {line["check"]: float(line["duration_s"]) for line in lines if line.get("event") == "check"}


def verdicts(lines: list[dict[str, Any]]) -> str:
    return ", ".join(f"{x['check']}={x['verdict']}" for x in lines if x.get("event") == "check")


def bench_status(rounds: int) -> None:
    print("status: 8 checks (state looks once at what the others need), latencies injected per API")
    with (
        tempfile.TemporaryDirectory(prefix="sreplat-bench-gcp-") as scratch,
        world_in(Path(scratch)) as (world, env),
    ):
        _, lines = cli(world, env, "bootstrap")
        assert lines[-1].get("ok"), lines[-1]
        # What each check waits for (per request): the Container API, Cloud DNS, the registry,
        # the state bucket, the cluster's API, the load balancer, Managed Prometheus.
        world.container.set_latency(r"/clusters/", 0.9)
        world.clouddns.set_latency(r"/managedZones", 0.5)
        world.registry.set_latency(r"^/v2/", 0.25)
        world.gcs.set_latency(r"release\.json|default\.tfstate", 0.2)
        world.kube.set_latency(r"^/apis?/", 0.03)
        world.ingress.set_latency(r"^/readyz$", 0.6)
        world.monitoring.set_latency(r"/query$", 1.8)
        in_process(world, env, "status")  # pays the imports once
        warm, cold = [], []
        for _ in range(rounds):
            wall, lines = in_process(world, env, "status")
            warm.append((wall, checks_of(lines)))
            wall, lines = cli(world, env, "status")
            cold.append((wall, checks_of(lines)))
        print(f"  verdicts: {verdicts(lines)}")
    for label, runs in (("warm (in process)", warm), ("cold (new process)", cold)):
        walls = [w for w, _ in runs]
        slowest = [max(c.values()) for _, c in runs]
        serial = [sum(c.values()) for _, c in runs]
        ratio = statistics.median(w / s for w, s in zip(walls, slowest, strict=True))
        serial_ratio = statistics.median(s / w for w, s in zip(walls, serial, strict=True))
        wall_s, slowest_s = statistics.median(walls), statistics.median(slowest)
        print(
            f"  {label:<19} wall {wall_s:5.2f}s  slowest check {slowest_s:5.2f}s"
            f"  ratio {ratio:.2f}{' (goal <= 1.2)' if label.startswith('warm') else ''}"
            f"  | serial sum {statistics.median(serial):5.2f}s = {serial_ratio:.2f}x the wall"
        )
    _, checks = warm[-1]
    print("  last warm run: " + ", ".join(f"{k} {v:.2f}s" for k, v in checks.items()))


def critical_path(durations: dict[str, float]) -> float:
    finish: dict[str, float] = {}
    for step, needs in NEEDS.items():  # NEEDS is in dependency order
        finish[step] = durations[step] + max((finish[n] for n in needs), default=0.0)
    return max(finish.values())


def bench_bootstrap(rounds: int, cluster_delay: float) -> None:
    if rounds < 1:
        return
    print(f"\nbootstrap: fresh doubles per round; cluster stack +{cluster_delay:g}s, Cloud Build polls +0.4s")
    results = []
    for _ in range(rounds):
        with (
            tempfile.TemporaryDirectory(prefix="sreplat-bench-gcp-") as scratch,
            world_in(Path(scratch)) as (
                world,
                env,
            ),
        ):
            env["SREPLAT_FIXTURE_CLUSTER_DELAY"] = str(cluster_delay)
            world.cloudbuild.set_latency(r"/builds/", 0.4)
            world.gcs.set_latency(r"^/storage/v1/b", 0.05)
            world.kube.set_latency(r"^/apis?/", 0.01)
            wall, lines = cli(world, env, "bootstrap")
            result = lines[-1]
            assert result.get("ok"), result
            durations = {s["step"]: float(s["duration_s"]) for s in result["steps"]}
            results.append(
                (wall, float(result["duration_s"]), critical_path(durations), sum(durations.values()))
            )
    for wall, pipeline, critical, serial in results:
        print(
            f"  process wall {wall:5.2f}s  pipeline {pipeline:5.2f}s  critical path {critical:5.2f}s"
            f"  ratio {pipeline / critical:.2f} (goal <= 1.1)  process/critical {wall / critical:.2f}"
            f"  | serial sum {serial:5.2f}s = {serial / pipeline:.2f}x the pipeline"
        )
    ratios = [p / c for _, p, c, _ in results]
    print(f"  median ratio pipeline / critical path: {statistics.median(ratios):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--status-rounds", type=int, default=5)
    parser.add_argument("--bootstrap-rounds", type=int, default=2)
    parser.add_argument("--cluster-delay", type=float, default=4.0, help="seconds the cluster stack takes")
    args = parser.parse_args()
    print(f"sreplat gcp benchmark: python {sys.version.split()[0]}, {os.cpu_count()} cores\n")
    bench_status(args.status_rounds)
    bench_bootstrap(args.bootstrap_rounds, args.cluster_delay)


if __name__ == "__main__":
    main()
