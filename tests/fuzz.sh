#!/usr/bin/env bash
# Runs every fuzz target of adapters/ and gateway/ for a short while (SECONDS each, default
# 30), on the stable toolchain. Needs cargo-fuzz (`cargo install cargo-fuzz --locked`).
# Not part of CI: a long build (the gateway's pulls in pingora) for a short run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds="${1:-30}"
export RUSTC_BOOTSTRAP=1
run() {
    local crate="$1" target="$2" seeds="$3" max_len="$4"
    mkdir -p "$crate/fuzz/corpus/$target"
    (cd "$crate/fuzz" && cargo fuzz run "$target" "corpus/$target" $seeds --sanitizer none -- \
        -max_total_time="$seconds" -max_len="$max_len" 2>&1 | grep -E "^(Done|==|#[0-9]+ *DONE)|panicked|SUMMARY" || true)
    if ls "$crate/fuzz/artifacts/$target"/crash-* >/dev/null 2>&1; then
        echo "$crate/$target: crash, see $crate/fuzz/artifacts/$target" >&2
        exit 1
    fi
    echo "$crate/$target: no crash in ${seconds}s"
}
run adapters paths seeds/paths 1024
run adapters charset "" 4096
run adapters html seeds/html 16384
run adapters headers seeds/headers 4096
run gateway service_config seeds/config 4096
run gateway request_text seeds/request 1024
run gateway redact "" 2048
