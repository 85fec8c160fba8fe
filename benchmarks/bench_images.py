"""Image build figures (``make bench-images``): printed, never asserted.

1. Cold build + push of both images, concurrently (the pipeline's default: shared stages once,
   then both images side by side);
2. the same, one image after the other (the baseline), and the ratio of the two;
3. a code change (dependencies unchanged, so their layers come from the cache), both ways;
4. a re-run for a SHA whose images already exist: no build, only two registry lookups
   (goal: under 2 s).

Cold means nothing in the layer cache was built on the base images: each cold run gets copies of
them under new image ids (one added label), so the dependency install runs and downloads from
PyPI (network speed is part of figures 1 and 2), while the cache works within the run as it
would for a user. Each scenario pushes to a registry of its own. Needs root, a Docker engine
(``make bench-images`` starts one) and Debian's docker-registry; the base image comes from
debootstrap as in the tests. The machine's other load is printed: it moves every figure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sreplat.events import Event  # noqa: E402
from sreplat.tools.images.docker_builder import DockerEngineBuilder  # noqa: E402
from sreplat.tools.images.pipeline import BuiltImages, build_and_push  # noqa: E402
from tests.support.base_image import ensure_base_images, fresh_copy  # noqa: E402
from tests.support.pinned_inputs import add_pinned_inputs  # noqa: E402
from tests.support.registry_server import RegistryServer  # noqa: E402

GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@sreplat.invalid"]


def make_repo(dest: Path) -> str:
    """A one-commit repo holding a copy of apps/ (the real work tree may be dirty)."""
    dest.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".pytest_cache")
    shutil.copytree(ROOT / "apps", dest / "apps", ignore=ignore)
    add_pinned_inputs(dest)  # base-images.json, and a lock if apps/ has none yet
    subprocess.run([*GIT, "-C", str(dest), "init", "-q"], check=True)
    return commit(dest, "apps")


def commit(repo: Path, message: str) -> str:
    for args in (["add", "-A"], ["commit", "-q", "-m", message]):
        subprocess.run([*GIT, "-C", str(repo), *args], check=True)
    return subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()


def code_change(repo: Path, marker: str) -> str:
    """A new commit that changes only application code (dependencies stay the same)."""
    init = repo / "apps" / "src" / "sreplat_apps" / "__init__.py"
    init.write_text(init.read_text() + f"# {marker}\n")
    return commit(repo, marker)


def run(
    label: str,
    *,
    repo: Path,
    sha: str,
    prefix: str,
    build_args: dict[str, str],
    parallel: bool = True,
) -> tuple[float, BuiltImages, list[Event]]:
    events: list[Event] = []
    started = time.monotonic()
    manifest = build_and_push(
        sha=sha,
        registry_prefix=prefix,
        builder=DockerEngineBuilder(network_mode="host"),
        repo=repo,
        emit=events.append,
        build_args=build_args,
        parallel=parallel,
    )
    elapsed = time.monotonic() - started
    builds = {e.data["app"]: e.data["duration_s"] for e in events if e.kind == "image.build_done"}
    pushes = {e.data["app"]: e.data["duration_s"] for e in events if e.kind == "image.pushed"}
    detail = ", ".join(
        f"{app} build {builds[app]:.1f}s" + (f" push {pushes[app]:.1f}s" if app in pushes else "")
        for app in sorted(builds)
    )
    print(f"  {label:<38} {elapsed:7.2f} s   {detail or 'no build'}", flush=True)
    return elapsed, manifest, events


def remove_tags(prefix: str) -> None:
    """Remove the images whose tag starts with ``prefix``."""
    import docker

    client = docker.from_env(timeout=120)
    for image in client.images.list():
        for tag in image.tags:
            if tag.startswith(prefix):
                client.images.remove(tag)


def prune_label(label: str) -> None:
    """Drop the layer cache built on a cold base: every image built on it inherits its label."""
    import docker

    docker.from_env(timeout=300).images.prune(filters={"label": label, "dangling": False})


def main() -> None:
    base = ensure_base_images()
    args = {"BUILDER_IMAGE": base.builder, "BASE_IMAGE": base.runtime}

    def cold_args(run_id: str) -> dict[str, str]:
        return {
            "BUILDER_IMAGE": fresh_copy(base.builder, run_id),
            "BASE_IMAGE": fresh_copy(base.runtime, run_id),
        }

    stamp = str(int(time.time()))
    with tempfile.TemporaryDirectory(prefix="bench-images-") as scratch:
        work = Path(scratch)
        sha = make_repo(work / "repo")
        print(f"bench-images: both app images for {sha[:12]}, local engine, local registry")
        print(f"  machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
        with RegistryServer(work / "reg-concurrent") as reg_c, RegistryServer(work / "reg-serial") as reg_s:
            common = {"repo": work / "repo", "sha": sha, "build_args": args}
            try:
                concurrent, manifest, _ = run(
                    "cold, concurrent (pipeline)",
                    repo=work / "repo",
                    sha=sha,
                    prefix=f"{reg_c.host}/bench",
                    build_args=cold_args(f"{stamp}-c"),
                )
                serial, _, _ = run(
                    "cold, one after the other (baseline)",
                    repo=work / "repo",
                    sha=sha,
                    prefix=f"{reg_s.host}/bench",
                    build_args=cold_args(f"{stamp}-s"),
                    parallel=False,
                )
                # The everyday case: only code changed, dependency layers come from the cache.
                # Each run gets a change of its own (this invocation's too), so no run reuses the
                # app layer of another, nor of an earlier invocation.
                repo = work / "repo"
                warm_c, _, _ = run(
                    "code change, concurrent (pipeline)",
                    repo=repo,
                    sha=code_change(repo, f"change 1 of run {stamp}"),
                    prefix=f"{reg_c.host}/bench",
                    build_args=args,
                )
                warm_s, _, _ = run(
                    "code change, one after the other",
                    repo=repo,
                    sha=code_change(repo, f"change 2 of run {stamp}"),
                    prefix=f"{reg_s.host}/bench",
                    build_args=args,
                    parallel=False,
                )
                reruns = []
                for i in range(3):
                    elapsed, again, events = run(
                        f"re-run, images exist (#{i + 1})",
                        prefix=f"{reg_c.host}/bench",
                        **common,  # type: ignore[arg-type]
                    )
                    built = [e for e in events if e.kind == "image.build_started"]
                    assert not built and again.to_json() == manifest.to_json(), "re-run rebuilt something"
                    reruns.append(elapsed)
            finally:
                remove_tags(reg_c.host + "/")
                remove_tags(reg_s.host + "/")
                remove_tags(f"{base.builder.rpartition(':')[0]}:cold-{stamp}")
                remove_tags(f"{base.runtime.rpartition(':')[0]}:cold-{stamp}")
                prune_label(f"sreplat.bench.run={stamp}-c")
                prune_label(f"sreplat.bench.run={stamp}-s")
    best = min(reruns)
    print(f"  load average {os.getloadavg()[0]:.2f} at the end")
    print()
    print(f"  cold, concurrent vs serial: {concurrent:.1f} s vs {serial:.1f} s -> {serial / concurrent:.2f}x")
    print(f"  code change, concurrent vs serial: {warm_c:.1f} s vs {warm_s:.1f} s -> {warm_s / warm_c:.2f}x")
    print(
        f"  re-run for an existing SHA: best {best:.2f} s of {len(reruns)} "
        f"(goal < 2 s: {'met' if best < 2 else 'NOT met'}), {concurrent / best:.0f}x faster than a cold build"
    )


if __name__ == "__main__":
    main()
