"""Promote versus rebuild-and-deploy (``make bench-promote``): figures and ratios, never asserted.

Two gcp environments on the doubles of tests/unit/targets/gcp/world.py (``dev`` as the source,
``prod``), each with its own Kubernetes API double; their images in two repositories of a real
``docker-registry`` behind the Artifact Registry double; the images are the real apps/ built by
the real Docker engine (bases made locally with debootstrap: nothing can be pulled here).

For a new SHA, first deployed to dev (its images built there), then taken to prod:

rebuild   ``sreplat --env prod deploy --sha SHA``: prod builds the SHA's images itself, with a
          cold layer cache (as a fresh CI runner does: every step, the dependency install from
          PyPI included), pushes them, upgrades api and worker, waits, smoke-tests, records.
rebuild (warm cache)  the same with this machine's warm layer cache (a best case for rebuilding).
promote   ``sreplat promote --from dev --to prod``: the images dev runs copied by digest (one
          registry host: blobs mounted), then the same upgrade, wait, smoke test and record.

Each path rolls out a SHA of its own (three commits with the same kind of code change), so every
run is a real rollout. Goal: promote / rebuild (cold) <= 0.2.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("KUBECACHEDIR", str(ROOT / ".cache" / "kube"))

from tests.support import public_pki  # noqa: E402

public_pki.install()  # the stand-in public CA in SSL_CERT_FILE, for Go too (re-executes once)
# The Helm SDK (Go) copies the process environment when it loads: load it now, while the initial
# environment still holds SSL_CERT_FILE (``environ`` below clears and refills os.environ, which
# rewrites that array in place).
import helm_python  # noqa: E402, F401

from sreplat.cli.main import main  # noqa: E402
from sreplat.events import EventSink  # noqa: E402
from sreplat.tools.images.docker_builder import DockerEngineBuilder  # noqa: E402
from sreplat.tools.images.pipeline import BuildRequest  # noqa: E402
from sreplat.tools.images.registry import ImageRef  # noqa: E402
from tests.support.base_image import ensure_base_images  # noqa: E402
from tests.support.pinned_inputs import add_pinned_inputs  # noqa: E402
from tests.support.process_env import environ  # noqa: E402
from tests.support.registry_server import RegistryServer  # noqa: E402
from tests.unit.targets.gcp.world import ENV, PROD, World, open_world  # noqa: E402


class LocalBasesBuilder(DockerEngineBuilder):
    """The local engine on the host network (it has no bridge), building FROM the locally made
    bases instead of the pinned upstream ones, which cannot be pulled here, and pushing to the
    real registry behind the Artifact Registry double (the engine resolves the image's host name,
    ``<region>-docker.pkg.dev``, itself): same repository path and tag, so the double serves what
    was pushed. Benchmark only: the inputs recorded still name the pinned bases."""

    def __init__(self, bases: dict[str, str], storage_host: str, *, nocache: bool):
        super().__init__(network_mode="host", nocache=nocache)
        self.bases = bases
        self.storage_host = storage_host

    def _local(self, request: BuildRequest) -> BuildRequest:
        image = ImageRef(self.storage_host, request.image.path, request.image.tag)
        return replace(
            request, image=image, credentials=None, build_args={**request.build_args, **self.bases}
        )

    def prepare(self, requests: Sequence[BuildRequest], emit: EventSink) -> None:
        super().prepare([self._local(r) for r in requests], emit)

    def build_and_push(self, request: BuildRequest, emit: EventSink) -> str:
        return super().build_and_push(self._local(request), emit)


def cli(
    world: World, env: dict[str, str], *argv: str, on: str | None = ENV
) -> tuple[float, list[dict[str, Any]]]:
    out = io.StringIO()
    chosen = ["--env", on] if on is not None else []
    with environ(env, world.project_dir), contextlib.redirect_stdout(out):
        started = time.perf_counter()
        code = main(["--output", "json", *chosen, *argv], seams=world.seams)
        elapsed = time.perf_counter() - started
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    if code != 0:
        errors = [line for line in lines if line.get("event") == "error"]
        raise SystemExit(f"sreplat {' '.join(argv)} exited {code}: {errors}")
    return elapsed, lines


def code_change(world: World, marker: str) -> str:
    init = world.repo.path / "apps" / "src" / "sreplat_apps" / "__init__.py"
    init.write_text(init.read_text() + f"# {marker}\n")
    return world.repo.commit({}, marker)


def steps(lines: list[dict[str, Any]]) -> str:
    durations = {e["step"]: e.get("duration_s", 0.0) for e in lines if e.get("event") == "step.finish"}
    return ", ".join(f"{step} {seconds:.1f}s" for step, seconds in durations.items())


def main_bench() -> None:
    bases = ensure_base_images()
    local = {"BUILDER_IMAGE": bases.builder, "BASE_IMAGE": bases.runtime}
    print("bench-promote: promote vs rebuild-and-deploy of a new SHA to prod (doubles, real registry)")
    print(f"  machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory(prefix="bench-promote-") as scratch:
        work = Path(scratch)
        env = {**os.environ, "NO_COLOR": "1", "SREPLAT_STATE_ROOT": str(work / "state")}
        for key in [k for k in env if k.startswith("SREPLAT_") and k != "SREPLAT_STATE_ROOT"]:
            del env[key]
        with (
            RegistryServer(work / "artifact-registry") as storage,
            open_world(
                work,
                setenv=env.__setitem__,
                registry_upstream=storage.url,
                prod=True,
            ) as world,
        ):
            shutil.rmtree(world.repo.path / "apps")
            shutil.copytree(
                ROOT / "apps",
                world.repo.path / "apps",
                ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", ".pytest_cache"),
            )
            add_pinned_inputs(world.repo.path)
            world.repo.commit({}, "the real apps")
            world.configure(image_builder="docker", ready_timeout_s=120)
            world.configure_prod()
            world.docker_builder = lambda: LocalBasesBuilder(local, storage.host, nocache=False)

            setup, _ = cli(world, env, "bootstrap")
            cli(world, env, "bootstrap", on=PROD)
            print(f"  setup: dev and prod bootstrapped ({setup:.0f}s for dev, images built)")

            figures: dict[str, float] = {}
            for label, nocache in (("rebuild (cold cache)", True), ("rebuild (warm cache)", False)):
                sha = code_change(world, label)
                cli(world, env, "deploy", "--sha", sha)
                world.docker_builder = lambda nocache=nocache: LocalBasesBuilder(
                    local, storage.host, nocache=nocache
                )
                figures[label], lines = cli(world, env, "deploy", "--sha", sha, on=PROD)
                world.docker_builder = lambda: LocalBasesBuilder(local, storage.host, nocache=False)
                print(f"  {label:<24} {figures[label]:7.2f} s   {steps(lines)}", flush=True)
            sha = code_change(world, "promote")
            cli(world, env, "deploy", "--sha", sha)
            figures["promote"], lines = cli(world, env, "promote", "--from", ENV, "--to", PROD, on=None)
            copied = [e for e in lines if e.get("event") == "image.copied"]
            moved = ", ".join(
                f"{e['mounted']} mounted/{e['streamed']} streamed/{e['present']} already there"
                for e in copied
            )
            print(f"  {'promote':<24} {figures['promote']:7.2f} s   {steps(lines)} (blobs: {moved})")
            record = world.release_record(PROD)
            assert record is not None and record["sha"] == sha  # a sanity check, not a figure
    cold, warm, promoted = (
        figures["rebuild (cold cache)"],
        figures["rebuild (warm cache)"],
        figures["promote"],
    )
    print(f"  ratio promote / rebuild (cold cache) = {promoted / cold:.3f}   (goal <= 0.2)")
    print(f"  ratio promote / rebuild (warm cache) = {promoted / warm:.3f}")
    print(f"  load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main_bench()
