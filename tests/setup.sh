#!/usr/bin/env bash
# Installs, idempotently, everything the tests and benchmarks need that Rust does not bring.
# Safe to run again: each step checks before it installs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian packages: cmake (pingora's zlib-ng), redis-server (session/cache stores),
# nginx + wrk (benchmark reference and load generator), prometheus + promtool (dashboard tests).
debs=(cmake redis-server nginx wrk prometheus)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "setup: ok" >&2
