#!/usr/bin/env bash
# Installs the Debian packages a purpose needs, when running as root and they are missing.
# Usage: scripts/system-deps.sh up|test|screenshot
# Not root: prints what is missing and how to install it, and fails only if something is missing.
set -euo pipefail

purpose="${1:?usage: system-deps.sh up|test|screenshot}"

# command -> Debian package
declare -A up_needs=(
  [redis-server]=redis-server
  [git]=git
  # the local Prometheus (SLO rules, the local dashboard)
  [prometheus]=prometheus
)
declare -A test_needs=(
  [redis-server]=redis-server
  [git]=git
  # images: a real engine (started by scripts/start-dockerd.sh), a real registry, and debootstrap
  # to make the base image locally since nothing can be pulled
  [dockerd]=docker.io
  [docker-registry]=docker-registry
  [debootstrap]=debootstrap
  # commit signatures: real SSH and OpenPGP keys and git verify-commit (tests/unit/tools/test_signatures.py)
  [ssh-keygen]=openssh-client
  [gpg]=gpg
  [gpg-agent]=gpg-agent
  [gpgconf]=gpgconf
  # bench-apps: the HTTP load generator (baseline and sreplat-api driven the same way)
  [wrk]=wrk
  # SLO rules and the Alertmanager configuration, checked and unit-tested by the real tools
  [promtool]=prometheus
  [prometheus]=prometheus
  [amtool]=prometheus-alertmanager
)

# make screenshot: the local platform plus a headless browser for the README's SLO graph
declare -A screenshot_needs=(
  [redis-server]=redis-server
  [git]=git
  [prometheus]=prometheus
  [chromium]=chromium
)

declare -n needs="${purpose}_needs"
missing=()
for cmd in "${!needs[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${needs[$cmd]}")
done
((${#missing[@]} == 0)) && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "missing system packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing system packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
