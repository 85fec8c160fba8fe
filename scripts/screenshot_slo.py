"""Take docs/slo-burn-rate.png: the local Prometheus graph of every SLO's burn rate
(``slo:burn_rate:1h``) with real traffic and real errors, in headless Chromium.

Bootstraps a throwaway local environment (free ports, its own state root, Prometheus scraping
and evaluating every second), sends jobs, stops Redis for a while so ``POST /process`` answers
503, starts it again, lets Prometheus draw the burn rising and settling, screenshots the
dashboard URL ``bootstrap`` printed, and destroys the environment. ``make screenshot`` runs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.support.local_env import port_settings, set_flags  # noqa: E402

SREPLAT = [sys.executable, "-m", "sreplat.cli.main"]
OUT = REPO / "docs" / "slo-burn-rate.png"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1400,900",
    # Let the page's scripts fetch the range query and draw before the shot is taken.
    "--virtual-time-budget=20000",
]


def sreplat(flags: list[str], env: dict[str, str], *args: str) -> dict[str, object]:
    argv = [*SREPLAT, *args, "-o", "json", *flags]
    done = subprocess.run(argv, check=False, env=env, capture_output=True, text=True)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode not in (0, 3):
        raise SystemExit(f"sreplat {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return next(line for line in reversed(lines) if line.get("event") == "result")


def post(api: str, n: int) -> None:
    body = json.dumps({"task": "echo", "payload": {"n": n}}).encode()
    request = urllib.request.Request(  # noqa: S310 - our own loopback API
        f"{api}/process", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with contextlib.suppress(urllib.error.HTTPError):  # the 503s are the point
        urllib.request.urlopen(request, timeout=5).close()  # noqa: S310


def traffic(api: str, seconds: float) -> None:
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        post(api, n)
        n += 1
        time.sleep(0.1)


def main() -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not found: scripts/system-deps.sh screenshot installs it (as root)")
    with tempfile.TemporaryDirectory(prefix="sreplat-shot-") as scratch:
        env = {**os.environ, "SREPLAT_STATE_ROOT": str(Path(scratch) / "state"), "NO_COLOR": "1"}
        flags = [
            *set_flags({**port_settings(), "scrape_interval_s": 1, "evaluation_interval_s": 1}),
            "--set",
            f"slo_dir={REPO / 'slo'}",
        ]
        conf = Path(scratch) / "state" / "local" / "supervisor" / "supervisord.conf"
        ctl = [sys.executable, "-m", "supervisor.supervisorctl", "-c", str(conf)]
        try:
            facts = sreplat(flags, env, "bootstrap", "--yes")["facts"]
            if not isinstance(facts, dict):
                raise SystemExit(f"bootstrap gave no facts: {facts!r}")
            api, dashboard = str(facts["api_url"]), str(facts["dashboard"])
            print(f"up: {api}; dashboard {dashboard}", flush=True)
            traffic(api, 60)  # healthy traffic: burn rate 0
            subprocess.run([*ctl, "stop", "redis"], check=True, env=env)
            traffic(api, 30)  # every POST /process answers 503
            subprocess.run([*ctl, "start", "redis"], check=True, env=env)
            traffic(api, 90)  # recovered: the 5m window falls, the 1h one keeps the memory
            status = sreplat(flags, env, "status")
            print(f"status: {status['verdict']}; slo check {status['checks']['slo']}", flush=True)  # type: ignore[index]
            url = dashboard.replace("g0.range_input=1h", "g0.range_input=5m")
            profile = Path(scratch) / "chromium"
            subprocess.run(
                [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={OUT}", url],
                check=True,
                env=env,
                capture_output=True,
                timeout=120,
            )
            print(f"wrote {OUT.relative_to(REPO)} from {url}")
        finally:
            subprocess.run([*SREPLAT, "destroy", "--yes", "-q", *flags], env=env, check=False)


if __name__ == "__main__":
    main()
