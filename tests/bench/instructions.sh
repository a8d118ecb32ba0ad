#!/usr/bin/env bash
# Instructions per proxied request, counted by valgrind's callgrind: the same total for the
# same binary, configuration and requests whatever else the machine is doing, so two builds
# are compared exactly where wall-clock ratios swing by ±10 % on a shared 2-core machine.
#
#   tests/bench/instructions.sh [requests=2000] [OTHER_BINARY...]
#   EGOV_BENCH_OTHER_CONFIG=/path/to/old/checkout/config tests/bench/instructions.sh 2000 OLD
#   tests/bench/instructions.sh signed-in [requests=1000]
#   EGOV_BENCH_KEEP=/some/dir tests/bench/instructions.sh ...   # keep callgrind's files there,
#                                                                 # for callgrind_annotate
#   EGOV_BENCH_EXTRA=$'[telemetry]\naccess_log = "file:/tmp/access.log"' tests/bench/instructions.sh
#                                       # extra gateway.toml lines for every gateway counted
#
# Each gateway (this checkout's release build first, then every OTHER_BINARY, e.g. an older
# build kept aside) serves one public service (1 KB object from the estate) on one worker
# thread, and so does a bare pingora proxy (the framework's floor, same allocator and
# timeouts and connection buffers; the ratio gateway/bare is what the gateway's features cost); after 50 warm-up
# requests, callgrind counts only while `requests` requests run one
# after another on one keep-alive connection. Prints instructions per request, the ratio
# of each binary to the first, and allocations per request (calls into the allocator).
#
# `signed-in`: `egov-gateway demo --calm` (its estate and development identity provider run in
# the same process, so their share is counted too, equally in both runs) with a citizen
# logged in, a signed-in request to a citizen service on the service's own origin, then the
# same with `--shared-origin` (the service as a path of the portal): what origin isolation
# costs a request once the citizen has its origin session.
set -euo pipefail

mode=proxy
if [ "${1:-}" = signed-in ]; then
  mode=signed-in
  shift
fi
requests="${1:-2000}"
shift || true
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
"$root/tests/setup.sh"
cd "$root"
cargo build --release -q -p egov-gateway -p egov-estate
[ "$mode" = signed-in ] || cargo build --release -q -p egov-integration --example bare-pingora
bin="${CARGO_TARGET_DIR:-$root/target}/release"
binaries=("$bin/egov-gateway" "$@")

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${EGOV_BENCH_KEEP:-}" ]; then
    mkdir -p "$EGOV_BENCH_KEEP"
    find "$work" -name '*.out*' -exec cp {} "$EGOV_BENCH_KEEP/" \;
  fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 1 600); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.2; done; echo "port $1 never opened" >&2; exit 1; }

service=cnie-first-application
est=$(free_port)
"$bin/egov-estate" --listen "127.0.0.1:$est" --no-chaos >"$work/estate.log" 2>&1 &
pids+=($!)
wait_port "$est"

cat >"$work/client.py" <<'PY'
import http.client, sys
port, n, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
headers = {"X-Bench": "1"}
for h in sys.argv[4:]:
    name, value = h.split(": ", 1)
    headers[name] = value
c = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(n):
    c.request("GET", path, headers=headers)
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit(f"answered {r.status}")
PY

# "instructions allocations" in callgrind's files $1*: the counted section's total, and its
# calls into the allocator (tests/bench/callgrind_calls.py).
measured() {
  local files=("$1"*)
  echo "$(cat "${files[@]}" | awk '/^(summary|totals):/ {print $2}' | sort -n | tail -1)" \
    "$(python3 "$root/tests/bench/callgrind_calls.py" "${files[@]}")"
}

# Instructions counted while $2 requests go through gateway binary $1, configured from the
# directory $3 (an older build may not know this checkout's newer settings: give it its own
# checkout's config/ through EGOV_BENCH_OTHER_CONFIG).
count() {
  local binary="$1" n="$2" cfg="$3" gw dir out vg
  gw=$(free_port)
  dir="$work/gw-$gw"
  mkdir -p "$dir/services/interior"
  sed -e "s#^listen = \[\"127.0.0.1:8080\"\]#listen = [\"127.0.0.1:$gw\"]#" \
      -e "s#^public_url = .*#public_url = \"http://127.0.0.1:$gw\"#" \
      -e "s#^threads = .*#threads = 1#" \
      -e 's#^listen = "127.0.0.1:990[12]"#listen = ""#' \
      "$cfg/gateway.toml" >"$dir/gateway.toml"
  [ -z "${EGOV_BENCH_EXTRA:-}" ] || printf '\n%s\n' "$EGOV_BENCH_EXTRA" >>"$dir/gateway.toml"
  cp "$cfg/ministries.toml" "$dir/"
  sed -e "s#127.0.0.1:9400#127.0.0.1:$est#" -e '/^\[cache\]/,$d' "$cfg/services/interior/$service.toml" \
      >"$dir/services/interior/$service.toml"
  out="$dir/callgrind.out"
  RUST_LOG=warn valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
    "$binary" serve --config "$dir/gateway.toml" >"$dir/valgrind.log" 2>&1 &
  vg=$!
  pids+=($vg)
  wait_port "$gw"
  local path="/s/$service/__estate/blob?bytes=1024"
  python3 "$work/client.py" "$gw" 50 "$path"
  callgrind_control -i on "$vg" >/dev/null 2>&1
  python3 "$work/client.py" "$gw" "$n" "$path"
  callgrind_control -i off "$vg" >/dev/null 2>&1
  callgrind_control -d "$vg" >/dev/null 2>&1
  kill -INT "$vg" 2>/dev/null || true
  wait "$vg" 2>/dev/null || true
  measured "$out"
}

# Instructions counted while $1 requests go through the bare pingora proxy.
count_bare() {
  local n="$1" port out vg
  port=$(free_port)
  out="$work/bare-$port.out"
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
    "$bin/examples/bare-pingora" "127.0.0.1:$port" "127.0.0.1:$est" www.cnie.ma 1 gateway-settings \
    >"$work/bare-$port.log" 2>&1 &
  vg=$!
  pids+=($vg)
  wait_port "$port"
  local path="/$service/__estate/blob?bytes=1024"
  python3 "$work/client.py" "$port" 50 "$path" "Host: www.cnie.ma"
  callgrind_control -i on "$vg" >/dev/null 2>&1
  python3 "$work/client.py" "$port" "$n" "$path" "Host: www.cnie.ma"
  callgrind_control -i off "$vg" >/dev/null 2>&1
  callgrind_control -d "$vg" >/dev/null 2>&1
  kill -INT "$vg" 2>/dev/null || true
  wait "$vg" 2>/dev/null || true
  measured "$out"
}

# Instructions counted while $2 signed-in requests go through `demo` with flags $3.
count_signed_in() {
  local n="$1" flags="$2" gw admin met est2 idp out vg cookie
  gw=$(free_port); admin=$(free_port); met=$(free_port); est2=$(free_port); idp=$(free_port)
  out="$work/demo-$gw.out"
  # shellcheck disable=SC2086
  RUST_LOG=warn valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
    "$bin/egov-gateway" demo --calm $flags --listen "127.0.0.1:$gw" --admin-listen "127.0.0.1:$admin" \
    --metrics-listen "127.0.0.1:$met" --estate-listen "127.0.0.1:$est2" --idp-listen "127.0.0.1:$idp" \
    >"$work/demo-$gw.log" 2>&1 &
  vg=$!
  pids+=($vg)
  wait_port "$gw"
  local path host=()
  if [ -z "$flags" ]; then
    cookie=$(python3 "$root/tests/bench/login.py" "http://criminal-record-extract.localhost:$gw/")
    path="/__estate/blob?bytes=1024"
    host=("Host: criminal-record-extract.localhost:$gw")
  else
    cookie=$(python3 "$root/tests/bench/login.py" "http://127.0.0.1:$gw" /s/criminal-record-extract/)
    path="/s/criminal-record-extract/__estate/blob?bytes=1024"
  fi
  python3 "$work/client.py" "$gw" 50 "$path" "${host[@]}" "Cookie: $cookie"
  callgrind_control -i on "$vg" >/dev/null 2>&1
  python3 "$work/client.py" "$gw" "$n" "$path" "${host[@]}" "Cookie: $cookie"
  callgrind_control -i off "$vg" >/dev/null 2>&1
  callgrind_control -d "$vg" >/dev/null 2>&1
  kill -INT "$vg" 2>/dev/null || true
  wait "$vg" 2>/dev/null || true
  measured "$out"
}

if [ "$mode" = signed-in ]; then
  echo "callgrind, $requests sequential signed-in keep-alive requests (demo, sessions in memory)"
  printf '%-40s %16s %10s %14s\n' where 'instr/request' ratio 'allocs/request'
  read -r own own_allocs <<<"$(count_signed_in "$requests" "")"
  read -r shared shared_allocs <<<"$(count_signed_in "$requests" "--shared-origin")"
  own=$((own / requests)); shared=$((shared / requests))
  printf '%-40s %16s %10s %14s\n' "the service's own origin" "$own" "$(python3 -c "print(f'{$own/$shared:.3f}')")" \
    "$(python3 -c "print(f'{$own_allocs/$requests:.1f}')")"
  printf '%-40s %16s %10s %14s\n' "a path of the portal (shared origin)" "$shared" "1.000" \
    "$(python3 -c "print(f'{$shared_allocs/$requests:.1f}')")"
  exit 0
fi

echo "callgrind, $requests sequential keep-alive requests, 1 KB object, 1 worker thread"
printf '%-60s %16s %10s %14s\n' binary 'instr/request' ratio 'allocs/request'
first=""
for b in "${binaries[@]}"; do
  cfg=config
  [ -z "$first" ] || cfg="${EGOV_BENCH_OTHER_CONFIG:-config}"
  read -r total allocs <<<"$(count "$b" "$requests" "$cfg")"
  per=$((total / requests))
  [ -n "$first" ] || first=$per
  printf '%-60s %16s %10s %14s\n' "$b" "$per" "$(python3 -c "print(f'{$per/$first:.3f}')")" \
    "$(python3 -c "print(f'{$allocs/$requests:.1f}')")"
done
read -r total allocs <<<"$(count_bare "$requests")"
bare=$((total / requests))
printf '%-60s %16s %10s %14s\n' "bare pingora (the framework's floor)" "$bare" "$(python3 -c "print(f'{$bare/$first:.3f}')")" \
  "$(python3 -c "print(f'{$allocs/$requests:.1f}')")"
