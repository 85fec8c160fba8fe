#!/usr/bin/env bash
# Makes sure a Docker engine answers for the test suite: does nothing when one already does;
# as root, starts Debian's dockerd in the background and waits for it; otherwise says how.
#
# The engine is started without its bridge network or iptables rules: tests run containers and
# builds with `--network host` and talk to them on loopback only, so nothing here hands out
# private-range addresses or rewrites the host's firewall.
# Usage: scripts/start-dockerd.sh            (idempotent; leaves the engine running)
set -euo pipefail
# dockerd lives in /usr/sbin, which a non-login root shell may not have on PATH.
export PATH="$PATH:/usr/sbin:/sbin"

if docker info >/dev/null 2>&1; then
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "no Docker engine answers, and starting one needs root." >&2
  echo "start one (e.g. sudo systemctl start docker) or run make test as root" >&2
  exit 1
fi

command -v dockerd >/dev/null 2>&1 || {
  echo "dockerd not found: install it with apt-get install -y docker.io" >&2
  exit 1
}

log="${SREPLAT_DOCKERD_LOG:-/var/log/sreplat-dockerd.log}"
echo "starting dockerd (log: $log)" >&2
# setsid: the engine outlives this script and make; it is not tied to the caller's terminal.
setsid dockerd \
  --host unix:///var/run/docker.sock \
  --bridge=none --iptables=false --ip-masq=false --ip-forward=false \
  >"$log" 2>&1 </dev/null &

for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    exit 0
  fi
  sleep 0.5
done
echo "dockerd did not answer within 30s; last lines of $log:" >&2
tail -n 20 "$log" >&2
exit 1
