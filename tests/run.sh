#!/usr/bin/env bash
# The test command: install what the tests need beyond Rust (idempotent), then run every
# test of the workspace. `.ci/run` runs exactly this.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
"$root/tests/setup.sh"
# The Kubernetes manifests and the Dockerfile, offline (deploy/; no cluster, no network).
"${EGOV_PYTHON:-python3}" "$root/tests/deploy/validate.py"
cargo fmt --all -- --check
cargo test --workspace "$@"
