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

# The real OpenID provider for the SSO interop tests (npm oidc-provider, in tests/oidc): install
# its locked packages when they are missing or older than the lock file. Node 20 is on the machine.
oidc="$here/oidc"
if [ ! -d "$oidc/node_modules/oidc-provider" ] \
  || [ "$oidc/package-lock.json" -nt "$oidc/node_modules/.package-lock.json" ]; then
  command -v npm >/dev/null || { echo "setup: npm is missing (Node.js 20+ is needed for tests/oidc)" >&2; exit 1; }
  echo "setup: installing tests/oidc node packages" >&2
  if [ -f "$oidc/package-lock.json" ]; then
    (cd "$oidc" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  else
    (cd "$oidc" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
  fi
fi

echo "setup: ok" >&2
