#!/usr/bin/env bash
# Benchmarks on this machine, in one run each, alternating what is compared (A B A B) so the
# ratios compare like with like. All targets front the same simulated legacy site (a 1 KB
# object) on loopback; wrk is the load generator.
#
#   tests/bench/run.sh [proxy|latency|profile|idle|auth|telemetry|registry|cache|portal|memory|flood|soak|all] [seconds-per-run=10] [connections=32] [rounds=2]
#
# proxy      the estate directly, nginx (keep-alive reverse proxy), a bare pingora proxy (the
#            framework's floor, on the gateway's allocator, timeouts and connection buffers) and the gateway, at one
#            worker thread (process) each and then at two (EGOV_BENCH_THREADS="1 2");
#            ratios gateway/nginx, gateway/bare, gateway/direct.
#            With EGOV_BENCH_BASELINE=/path/to/an/older/egov-gateway, that binary runs beside the
#            gateway on the same configuration (target "baseline"): ratio gateway/baseline.
#            EGOV_BENCH_BYTES sets the object's size (1024), EGOV_BENCH_ACCEPT_ENCODING an
#            Accept-Encoding every request sends (none; a browser sends "gzip, deflate, br").
# latency    p50/p99 of nginx, the bare pingora and the gateway (one worker each) at the same
#            offered loads below saturation (EGOV_BENCH_RATES, default "5000 10000 20000" req/s:
#            each connection waits connections/rate seconds after every answer); the baseline too
#            with EGOV_BENCH_BASELINE
# profile    where each proxy's CPU goes, per request, at one worker each: perf's samples of
#            nginx, the bare pingora and the gateway, split into the proxy's own code, libc,
#            the kernel's TCP work and its wake-ups of the processes the proxy sends to; then
#            the functions where the gateway spends more than the bare pingora
#            (EGOV_BENCH_KEEP=/some/dir keeps perf's files there, for perf report/annotate)
# idle       resident memory of the gateway, of a bare pingora with the gateway's settings and
#            of one with pingora's defaults, each holding 10,000 idle keep-alive connections
#            (EGOV_BENCH_IDLE), each after one request
# auth       the gateway (demo, dev identity provider): an anonymous request to a public service
#            vs a signed-in request to a citizen service, sessions in memory and in Redis, each
#            with services on their own origins and on the portal's (shared origin)
# telemetry  the gateway with metrics + access log, with metrics only, and with both off ($threads workers)
# registry   two gateways sharing a Redis registry store, wrk on instance A's public service:
#            runs without changes alternate with runs during which 100 changes (50 services
#            registered, 50 deleted) go through A's admin API; failed requests, p99 ratio, and
#            each change's time to serving on A and on B
# cache      one worker each: the gateway answering from its cache (hit) vs the gateway
#            proxying (no cache) vs nginx proxy_cache hits vs nginx proxying, on a 1 KB page
# portal     the portal's home page (the full shipped catalog, Arabic, anonymous) served by the
#            gateway vs the same bytes as a static file from nginx, one worker each; and the
#            home page's total transfer with its stylesheets
# memory     the gateway's peak memory (VmHWM) after 1 MB pages, then after a 20 MB and a 100 MB
#            legacy page, streamed through charset conversion and link rewriting
# flood      an HTTP/2 PRIORITY-frame flood that reconnects whenever closed (tests/bench/h2_flood.py,
#            8 threads of one address for `seconds`) beside a citizen on another address asking
#            for a 1 KB object every 50 ms: the gateway's CPU, the citizen's p50/p99 and the
#            sockets the flood left in TIME_WAIT on the gateway's side, with the citizen alone
#            first; this build, then EGOV_BENCH_BASELINE's if set, `rounds` times
set -euo pipefail

mode="${1:-proxy}"
secs="${2:-10}"
conns="${3:-32}"
rounds="${4:-2}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
"$root/tests/setup.sh"

cd "$root"
cargo build --release -q -p egov-gateway -p egov-estate
cargo build --release -q -p egov-integration --example bare-pingora
bin="${CARGO_TARGET_DIR:-$root/target}/release"

work="$(mktemp -d)"
pids=()
# SIGINT: pingora's fast shutdown (SIGTERM would wait out a bare pingora's 5-minute grace).
cleanup() {
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${EGOV_BENCH_KEEP:-}" ]; then
    mkdir -p "$EGOV_BENCH_KEEP" && cp "$work"/*.perf "$EGOV_BENCH_KEEP"/ 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }
to_ms() { python3 -c "import sys,re; v=sys.argv[1]; m=re.match(r'([0-9.]+)(us|ms|s)',v); f={'us':0.001,'ms':1,'s':1000}[m.group(2)]; print(round(float(m.group(1))*f,3))" "$1"; }
mean() { python3 -c "import sys; v=[float(x) for x in sys.argv[1:]]; print(round(sum(v)/len(v),1))" $1; }

declare -A url hdr rps p50 p99 rpc procs errs
targets=()
# A wrk Lua script for every run (the latency mode's pacing), when set.
wrk_script=""
tck=$(getconf CLK_TCK)

# CPU time (utime + stime, in clock ticks) used so far by the processes $1 (pids).
cpu_ticks() {
  local total=0 p f
  for p in $1; do
    [ -r "/proc/$p/stat" ] || continue
    # Fields after the command name, which is in parentheses: utime is the 12th, stime 13th.
    f=$(sed 's/^.*) //' "/proc/$p/stat")
    total=$(( total + $(awk '{print $12 + $13}' <<<"$f") ))
  done
  echo "$total"
}

# wrk once against target $1; records req/s, p50, p99 and, when the target's processes are
# known (procs[$1]), requests per CPU-second of those processes.
load() {
  local t="$1" r="$2" out req l50 l99 before after total per_cpu="-"
  before=$(cpu_ticks "${procs[$t]:-}")
  # hdr[$t] holds one header, or several separated by '|'.
  local headers=() h
  IFS='|' read -r -a parts <<<"${hdr[$t]}"
  for h in "${parts[@]}"; do headers+=(-H "$h"); done
  out=$(wrk -t1 -c"$conns" -d"${secs}s" --latency ${wrk_script:+-s "$wrk_script"} "${headers[@]}" "${url[$t]}")
  after=$(cpu_ticks "${procs[$t]:-}")
  req=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  total=$(awk '/requests in/ {print $1}' <<<"$out")
  l50=$(to_ms "$(awk '$1=="50%" {print $2}' <<<"$out")")
  l99=$(to_ms "$(awk '$1=="99%" {print $2}' <<<"$out")")
  # Failed requests: non-2xx/3xx answers and socket errors (connect, read, write, timeout).
  local failed
  failed=$(awk '/Non-2xx/ {n += $5} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' <<<"$out")
  errs[$t]=$(( ${errs[$t]:-0} + failed ))
  if [ -n "${procs[$t]:-}" ] && [ "$after" -gt "$before" ]; then
    per_cpu=$(python3 -c "print(round($total / (($after - $before) / $tck)))")
    rpc[$t]="${rpc[$t]:-} $per_cpu"
  fi
  printf '%-16s %-6s %12s %10s %10s %12s\n' "$t" "$r" "$req" "$l50" "$l99" "$per_cpu"
  rps[$t]="${rps[$t]:-} $req"; p50[$t]="${p50[$t]:-} $l50"; p99[$t]="${p99[$t]:-} $l99"
}

check() {
  local t code h
  for t in "${targets[@]}"; do
    local headers=()
    IFS='|' read -r -a parts <<<"${hdr[$t]}"
    for h in "${parts[@]}"; do headers+=(-H "$h"); done
    code=$(curl -s -o /dev/null -w '%{http_code}' "${headers[@]}" "${url[$t]}")
    [ "$code" = 200 ] || { echo "$t answered $code" >&2; tail -n 20 "$work"/*.log >&2 || true; exit 1; }
  done
}

run_rounds() {
  echo "wrk -t1 -c$conns -d${secs}s, 1 KB object, $rounds rounds"
  printf '%-16s %-6s %12s %10s %10s %12s\n' target round 'req/s' 'p50 ms' 'p99 ms' 'req/CPU-s'
  for r in $(seq 1 "$rounds"); do
    for t in "${targets[@]}"; do load "$t" "$r"; done
  done
  echo
  printf '%-16s %12s %10s %10s %12s\n' target 'mean req/s' 'p50 ms' 'p99 ms' 'req/CPU-s'
  for t in "${targets[@]}"; do
    printf '%-16s %12s %10s %10s %12s\n' "$t" "$(mean "${rps[$t]}")" "$(mean "${p50[$t]}")" "$(mean "${p99[$t]}")" \
      "$( [ -n "${rpc[$t]:-}" ] && mean "${rpc[$t]}" || echo -)"
  done
  echo
}

# Ratio of two targets' mean req/s and, when both were measured, of their requests per
# CPU-second (the fair figure when the load generator and backend share the cores).
ratio() {
  local cpu="-"
  if [ -n "${rpc[$2]:-}" ] && [ -n "${rpc[$3]:-}" ]; then
    cpu=$(python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$(mean "${rpc[$2]}")" "$(mean "${rpc[$3]}")")
  fi
  python3 -c "import sys; print(f'{sys.argv[1]:<34} req/s {float(sys.argv[2])/float(sys.argv[3]):.2f}   per CPU-s {sys.argv[4]}')" "$1" "$(mean "${rps[$2]}")" "$(mean "${rps[$3]}")" "$cpu"
}

service=cnie-first-application
host=www.cnie.ma
blob="__estate/blob?bytes=${EGOV_BENCH_BYTES:-1024}"
threads=2

# A gateway with the repository's settings and one public service, fronting $1; extra
# gateway.toml lines in $3; config written to $2.
gateway_config() {
  local est="$1" dir="$2" extra="$3" gw="$4"
  mkdir -p "$dir/services/interior"
  sed -e "s#^listen = \[\"127.0.0.1:8080\"\]#listen = [\"127.0.0.1:$gw\"]#" \
      -e "s#^public_url = .*#public_url = \"http://127.0.0.1:$gw\"#" \
      -e "s#^threads = .*#threads = $threads#" \
      -e 's#^listen = "127.0.0.1:990[12]"#listen = ""#' \
      config/gateway.toml >"$dir/gateway.toml"
  printf '\n%s\n' "$extra" >>"$dir/gateway.toml"
  cp config/ministries.toml "$dir/"
  # The proxy path is measured without the service's response cache (its [cache] table is
  # the file's last); the cache benchmark adds it back where it wants it.
  sed -e "s#127.0.0.1:9400#127.0.0.1:$est#" -e '/^\[cache\]/,$d' "config/services/interior/$service.toml" \
      >"$dir/services/interior/$service.toml"
}

start_estate() {
  local port="$1"
  "$bin/egov-estate" --listen "127.0.0.1:$port" --no-chaos >"$work/estate.log" 2>&1 &
  pids+=($!)
  estate_pid=$!
}

# Starts the estate, nginx, the bare pingora and the gateway ($threads workers each) and fills
# targets, url, hdr and procs for them.
proxy_setup() {
  local est ng bare gw
  est=$(free_port); ng=$(free_port); bare=$(free_port); gw=$(free_port)
  start_estate "$est"
  mkdir -p "$work/nginx/logs"
  cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes $threads;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  upstream estate { server 127.0.0.1:$est; keepalive 64; }
  server {
    listen 127.0.0.1:$ng;
    location / {
      proxy_pass http://estate;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For \$remote_addr;
    }
  }
}
NGINX
  nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
  local nginx_master=$!
  pids+=($nginx_master)
  "$bin/examples/bare-pingora" "127.0.0.1:$bare" "127.0.0.1:$est" "$host" "$threads" gateway-settings >"$work/bare.log" 2>&1 &
  procs[bare-pingora]=$!
  pids+=($!)
  gateway_config "$est" "$work/gw" "" "$gw"
  RUST_LOG=warn "$bin/egov-gateway" serve --config "$work/gw/gateway.toml" >"$work/gateway.log" 2>&1 &
  procs[gateway]=$!
  pids+=($!)
  targets=(direct nginx bare-pingora gateway)
  local ports=("$est" "$ng" "$bare" "$gw")
  if [ -n "${EGOV_BENCH_BASELINE:-}" ]; then
    base=$(free_port)
    gateway_config "$est" "$work/base" "" "$base"
    RUST_LOG=warn "$EGOV_BENCH_BASELINE" serve --config "$work/base/gateway.toml" >"$work/baseline.log" 2>&1 &
    procs[baseline]=$!
    pids+=($!)
    ports+=("$base")
    url[baseline]="http://127.0.0.1:$base/s/$service/$blob"; hdr[baseline]="Host: 127.0.0.1:$base"
    targets=(direct nginx bare-pingora baseline gateway)
  fi
  for p in "${ports[@]}"; do wait_port "$p"; done
  procs[direct]=$estate_pid
  procs[nginx]=$(pgrep -P "$nginx_master" | tr '\n' ' ')
  url[direct]="http://127.0.0.1:$est/$service/$blob";  hdr[direct]="Host: $host"
  url[nginx]="http://127.0.0.1:$ng/$service/$blob";    hdr[nginx]="Host: $host"
  url[bare-pingora]="http://127.0.0.1:$bare/$service/$blob"; hdr[bare-pingora]="Host: $host"
  # Each proxy gets one header, Host, as the bare pingora and nginx do.
  url[gateway]="http://127.0.0.1:$gw/s/$service/$blob"; hdr[gateway]="Host: 127.0.0.1:$gw"
  if [ -n "${EGOV_BENCH_ACCEPT_ENCODING:-}" ]; then
    local t
    for t in "${targets[@]}"; do hdr[$t]="${hdr[$t]}|Accept-Encoding: $EGOV_BENCH_ACCEPT_ENCODING"; done
  fi
  check
}

proxy_bench() {
  proxy_setup
  run_rounds
  ratio "gateway/nginx" gateway nginx
  ratio "gateway/bare-pingora" gateway bare-pingora
  ratio "gateway/direct" gateway direct
  ratio "bare-pingora/nginx" bare-pingora nginx
  if [ -n "${EGOV_BENCH_BASELINE:-}" ]; then
    ratio "gateway/baseline" gateway baseline
  fi
}

# One worker each, nginx, the bare pingora and the gateway at the same offered loads below
# saturation: each of the $conns connections waits a fixed time after every answer before
# its next request (wrk's `delay`), so all three get about the same requests a second and
# p50/p99 show each proxy's own latency rather than its queue at saturation (which
# `run.sh proxy` measures). EGOV_BENCH_RATES: the offered loads, requests a second.
latency_bench() {
  local rate ms
  for rate in ${EGOV_BENCH_RATES:-5000 10000 20000}; do
    # wrk waits whole milliseconds: at most $conns * 1000 requests a second can be offered.
    if ! [[ "$rate" =~ ^[1-9][0-9]*$ ]] || [ "$rate" -gt $(( conns * 1000 )) ]; then
      echo "EGOV_BENCH_RATES: '$rate' is not a rate from 1 to $(( conns * 1000 )) requests a second" >&2
      exit 2
    fi
  done
  threads=1
  proxy_setup
  targets=(nginx bare-pingora gateway)
  if [ -n "${EGOV_BENCH_BASELINE:-}" ]; then targets=(nginx bare-pingora baseline gateway); fi
  for rate in ${EGOV_BENCH_RATES:-5000 10000 20000}; do
    ms=$(( conns * 1000 / rate ))
    printf 'function delay()\n  return %d\nend\n' "$ms" >"$work/pace.lua"
    wrk_script="$work/pace.lua"
    unset rps p50 p99 rpc
    declare -gA rps p50 p99 rpc
    echo "offered load ~$rate req/s: each of $conns connections waits $ms ms after every answer"
    run_rounds
    local t
    for t in "${targets[@]:1}"; do
      python3 -c "import sys; print(f'p99 {sys.argv[1]}/nginx: {float(sys.argv[2])/float(sys.argv[3]):.2f}   p50: {float(sys.argv[4])/float(sys.argv[5]):.2f}')" \
        "$t" "$(mean "${p99[$t]}")" "$(mean "${p99[nginx]}")" "$(mean "${p50[$t]}")" "$(mean "${p50[nginx]}")"
    done
    echo
  done
  wrk_script=""
}

# One worker each, perf's cpu-clock samples (with stacks) of nginx, the bare pingora and the
# gateway, each under its own wrk run: CPU microseconds per request, split into the proxy's
# own code, libc, the kernel's TCP work and the kernel's wake-ups of the processes it sends
# to, and the functions where the gateway spends more than the bare pingora
# (tests/bench/perf_split.py).
profile_bench() {
  command -v perf >/dev/null || { echo "profile needs perf (Debian: linux-perf)" >&2; exit 1; }
  threads=1
  proxy_setup
  local t freq=2000 args=() out total
  echo "perf record -e cpu-clock -F $freq -g, wrk -t1 -c$conns -d${secs}s, 1 KB object, one worker each"
  for t in gateway bare-pingora nginx; do
    local headers=() h
    IFS='|' read -r -a parts <<<"${hdr[$t]}"
    for h in "${parts[@]}"; do headers+=(-H "$h"); done
    wrk -t1 -c"$conns" -d2s "${headers[@]}" "${url[$t]}" >/dev/null
    perf record -q -e cpu-clock -F "$freq" -g -p "$(tr ' ' ',' <<<"${procs[$t]}" | sed 's/,$//')" \
      -o "$work/$t.perf" -- sleep "$secs" >/dev/null 2>&1 &
    local rec=$!
    out=$(wrk -t1 -c"$conns" -d"${secs}s" "${headers[@]}" "${url[$t]}")
    wait "$rec" || true
    total=$(awk '/requests in/ {print $1}' <<<"$out")
    printf '%-14s %10s req/s\n' "$t" "$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
    args+=("$t=$work/$t.perf:$total")
  done
  echo
  python3 "$root/tests/bench/perf_split.py" "$freq" "${args[@]}"
}

auth_bench() {
  local redis_port est idp gw admin met cookie store mode
  redis_port=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
  pids+=($!)
  wait_port "$redis_port"
  for store in memory redis; do
    targets=()
    local demos=()
    for mode in own-origin shared-origin; do
      est=$(free_port); idp=$(free_port); gw=$(free_port); admin=$(free_port); met=$(free_port)
      local extra=()
      [ "$store" = redis ] && extra+=(--redis "redis://127.0.0.1:$redis_port")
      [ "$mode" = shared-origin ] && extra+=(--shared-origin)
      RUST_LOG=warn "$bin/egov-gateway" demo --calm --listen "127.0.0.1:$gw" --admin-listen "127.0.0.1:$admin" \
        --metrics-listen "127.0.0.1:$met" --estate-listen "127.0.0.1:$est" --idp-listen "127.0.0.1:$idp" \
        "${extra[@]}" >"$work/demo-$store-$mode.log" 2>&1 &
      local demo=$!
      pids+=($demo); demos+=($demo)
      wait_port "$gw"
      local anon="anon-$store-${mode%%-*}" signed="signed-$store-${mode%%-*}"
      procs[$anon]=$demo; procs[$signed]=$demo
      if [ "$mode" = own-origin ]; then
        # wrk cannot resolve *.localhost: the service's origin is named by the Host header.
        cookie=$(python3 "$root/tests/bench/login.py" "http://criminal-record-extract.localhost:$gw/")
        url[$anon]="http://127.0.0.1:$gw/$blob"; hdr[$anon]="Host: cnie-renewal.localhost:$gw"
        url[$signed]="http://127.0.0.1:$gw/$blob"
        hdr[$signed]="Host: criminal-record-extract.localhost:$gw|Cookie: $cookie"
      else
        cookie=$(python3 "$root/tests/bench/login.py" "http://127.0.0.1:$gw" /s/criminal-record-extract/)
        url[$anon]="http://127.0.0.1:$gw/s/cnie-renewal/$blob"; hdr[$anon]="X-Bench: 1"
        url[$signed]="http://127.0.0.1:$gw/s/criminal-record-extract/$blob"; hdr[$signed]="Cookie: $cookie"
      fi
      targets+=("$anon" "$signed")
    done
    check
    run_rounds
    ratio "signed-in/anonymous (own origins, $store)" "signed-$store-own" "anon-$store-own"
    ratio "signed-in/anonymous (shared origin, $store)" "signed-$store-shared" "anon-$store-shared"
    ratio "signed-in own/shared origin ($store)" "signed-$store-own" "signed-$store-shared"
    echo
    for demo in "${demos[@]}"; do
      kill "$demo" 2>/dev/null || true
      wait "$demo" 2>/dev/null || true
    done
  done
}

telemetry_bench() {
  local est on met off p
  est=$(free_port); on=$(free_port); met=$(free_port); off=$(free_port)
  start_estate "$est"
  gateway_config "$est" "$work/on" "[telemetry]
metrics = true
access_log = \"file:$work/access.log\"" "$on"
  gateway_config "$est" "$work/met" "[telemetry]
metrics = true
access_log = \"off\"" "$met"
  gateway_config "$est" "$work/off" "[telemetry]
metrics = false
access_log = \"off\"" "$off"
  for t in on met off; do
    RUST_LOG=warn "$bin/egov-gateway" serve --config "$work/$t/gateway.toml" >"$work/gw-$t.log" 2>&1 &
    pids+=($!)
    procs[$t]=$!
  done
  procs[instrumented]=${procs[on]}; procs[metrics-only]=${procs[met]}; procs[uninstrumented]=${procs[off]}
  for p in "$est" "$on" "$met" "$off"; do wait_port "$p"; done
  url[instrumented]="http://127.0.0.1:$on/s/$service/$blob"; hdr[instrumented]="X-Bench: 1"
  url[metrics-only]="http://127.0.0.1:$met/s/$service/$blob"; hdr[metrics-only]="X-Bench: 1"
  url[uninstrumented]="http://127.0.0.1:$off/s/$service/$blob"; hdr[uninstrumented]="X-Bench: 1"
  targets=(instrumented metrics-only uninstrumented)
  check
  run_rounds
  ratio "instrumented/uninstrumented" instrumented uninstrumented
  ratio "metrics-only/uninstrumented" metrics-only uninstrumented
  echo "access log lines written: $(wc -l <"$work/access.log")"
}

registry_bench() {
  local redis_port est a b admin_a admin_b key entry changes=100 r
  redis_port=$(free_port); est=$(free_port); a=$(free_port); b=$(free_port)
  admin_a=$(free_port); admin_b=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
  pids+=($!)
  start_estate "$est"
  local made
  made=$("$bin/egov-gateway" admin-key --platform --id bench)
  key=$(awk '/^key/ {getline; print $1}' <<<"$made")
  entry=$(awk '/^add to/ {getline; sub(/^ +/, ""); print}' <<<"$made")
  local inst port admin
  # Instances sharing Redis must share the identity key and pairwise secret.
  "$bin/egov-gateway" keys generate --out "$work/keys" >/dev/null
  for inst in a b; do
    port=${!inst}; admin=$([ "$inst" = a ] && echo "$admin_a" || echo "$admin_b")
    gateway_config "$est" "$work/$inst" "[redis]
urls = [\"redis://127.0.0.1:$redis_port\"]

[identity]
signing_keys = [\"$work/keys/identity-signing-key.pem\"]
pairwise_secret = { file = \"$work/keys/identity-pairwise-secret\" }

[registry]
store = \"redis\"" "$port"
    # The admin listener on, with the platform key and the estate's loopback address allowed.
    python3 - "$work/$inst/gateway.toml" "$admin" "$entry" <<'PY'
import sys
path, port, entry = sys.argv[1:]
text = open(path).read()
head, tail = text.split("[admin]\n", 1)
line, rest = tail.split("\n", 1)
text = head + "[admin]\n" + f'listen = "127.0.0.1:{port}"\nkeys = [{entry}]\nupstream_allow = ["127.0.0.1/32"]\n' + rest
open(path, "w").write(text)
PY
    RUST_LOG=warn "$bin/egov-gateway" serve --config "$work/$inst/gateway.toml" >"$work/gw-$inst.log" 2>&1 &
    procs[$inst]=$!
    pids+=($!)
  done
  for p in "$redis_port" "$est" "$a" "$b" "$admin_a" "$admin_b"; do wait_port "$p"; done
  url[steady]="http://127.0.0.1:$a/s/$service/$blob"; hdr[steady]="X-Bench: 1"; procs[steady]=${procs[a]}
  url[changing]="http://127.0.0.1:$a/s/$service/$blob"; hdr[changing]="X-Bench: 1"; procs[changing]=${procs[a]}
  targets=(steady changing)
  check
  echo "wrk -t1 -c$conns -d${secs}s on instance A, $rounds rounds; during 'changing', $changes changes through A's API, during 'steady' as many reads"
  printf '%-16s %-6s %12s %10s %10s %12s\n' target round 'req/s' 'p50 ms' 'p99 ms' 'req/CPU-s'
  # The same driver runs during both: reads only ('steady', --idle), or changes ('changing').
  local driver window
  window=$(python3 -c "print($secs * 0.8)")
  drive() {
    python3 "$root/tests/bench/registry_changes.py" "http://127.0.0.1:$admin_a" "http://127.0.0.1:$a" \
      "http://127.0.0.1:$b" "$key" "127.0.0.1:$est" "$changes" "$window" "$@"
  }
  for r in $(seq 1 "$rounds"); do
    drive --idle >"$work/reads-$r.json" &
    driver=$!
    load steady "$r"
    wait "$driver"
    drive >"$work/changes-$r.json" &
    driver=$!
    load changing "$r"
    wait "$driver"
    echo "  changes, round $r: $(cat "$work/changes-$r.json")"
  done
  echo
  printf '%-16s %12s %10s %10s %12s %8s\n' target 'mean req/s' 'p50 ms' 'p99 ms' 'req/CPU-s' failed
  for t in steady changing; do
    printf '%-16s %12s %10s %10s %12s %8s\n' "$t" "$(mean "${rps[$t]}")" "$(mean "${p50[$t]}")" "$(mean "${p99[$t]}")" \
      "$(mean "${rpc[$t]}")" "${errs[$t]:-0}"
  done
  python3 -c "import sys; print(f'p99 changing/steady {float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$(mean "${p99[changing]}")" "$(mean "${p99[steady]}")"
  ratio "changing/steady" changing steady
  echo "warnings logged: A $(grep -c WARN "$work/gw-a.log" || true), B $(grep -c WARN "$work/gw-b.log" || true)"; grep -h WARN "$work/gw-a.log" "$work/gw-b.log" | cut -c1-300 | sort | uniq -c | head -5
}

cache_bench() {
  local est ng gw_hit gw_proxy
  est=$(free_port); ng=$(free_port); gw_hit=$(free_port); gw_proxy=$(free_port)
  start_estate "$est"
  local saved_threads=$threads
  threads=1
  mkdir -p "$work/nginx/logs" "$work/nginx/cache" "$work/nginx/proxy"
  # nginx's workers drop root for nobody: they must reach and write the cache directory.
  chmod a+x "$work"
  chmod -R a+rwx "$work/nginx"
  cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  proxy_cache_path $work/nginx/cache levels=1:2 keys_zone=pages:10m max_size=100m inactive=10m use_temp_path=off;
  upstream estate { server 127.0.0.1:$est; keepalive 64; }
  server {
    listen 127.0.0.1:$ng;
    location / {
      proxy_pass http://estate;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_cache pages;
      proxy_cache_lock on;
      add_header X-Cache-Status \$upstream_cache_status;
    }
  }
}
NGINX
  nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
  local nginx_master=$!
  pids+=($nginx_master)
  # The gateway with the service's [cache] (hits), and without it (proxying).
  gateway_config "$est" "$work/hit" "" "$gw_hit"
  printf '\n[cache]\n' >>"$work/hit/services/interior/$service.toml"
  gateway_config "$est" "$work/proxy" "" "$gw_proxy"
  RUST_LOG=warn "$bin/egov-gateway" serve --config "$work/hit/gateway.toml" >"$work/gw-hit.log" 2>&1 &
  procs[gateway-hit]=$!
  pids+=($!)
  RUST_LOG=warn "$bin/egov-gateway" serve --config "$work/proxy/gateway.toml" >"$work/gw-proxy.log" 2>&1 &
  procs[gateway-proxy]=$!
  pids+=($!)
  for p in "$est" "$ng" "$gw_hit" "$gw_proxy"; do wait_port "$p"; done
  procs[nginx-hit]=$(pgrep -P "$nginx_master" | tr '\n' ' ')
  local page="__estate/cacheable?tag=bench&cc=public%2C%20max-age%3D600&pad=1024"
  url[gateway-hit]="http://127.0.0.1:$gw_hit/s/$service/$page"; hdr[gateway-hit]="X-Bench: 1"
  url[gateway-proxy]="http://127.0.0.1:$gw_proxy/s/$service/$blob"; hdr[gateway-proxy]="X-Bench: 1"
  url[nginx-hit]="http://127.0.0.1:$ng/$service/$page"; hdr[nginx-hit]="Host: $host"
  targets=(gateway-hit gateway-proxy nginx-hit)
  check
  local status
  status=$(curl -s -o /dev/null -D - "${url[gateway-hit]}" | awk -F': ' 'tolower($1)=="x-cache-status" {print $2}' | tr -d '\r')
  [ "$status" = HIT ] || { echo "the gateway's second request was not a hit ($status)" >&2; exit 1; }
  status=$(curl -s -o /dev/null -D - -H "Host: $host" "${url[nginx-hit]}" | awk -F': ' 'tolower($1)=="x-cache-status" {print $2}' | tr -d '\r')
  [ "$status" = HIT ] || { echo "nginx's second request was not a hit ($status)" >&2; exit 1; }
  run_rounds
  ratio "gateway hit/gateway proxied" gateway-hit gateway-proxy
  ratio "gateway hit/nginx hit" gateway-hit nginx-hit
  threads=$saved_threads
}

portal_bench() {
  local est gw ng
  est=$(free_port); gw=$(free_port); ng=$(free_port)
  start_estate "$est"
  local saved_threads=$threads
  threads=1
  # The whole shipped catalog (56 services), so the home page is the real one.
  gateway_config "$est" "$work/portal" "" "$gw"
  rm -rf "$work/portal/services"
  cp -r config/services "$work/portal/services"
  find "$work/portal/services" -name '*.toml' -exec sed -i "s#127.0.0.1:9400#127.0.0.1:$est#" {} +
  # The services' secrets (service accounts of the legacy sites) are not used by portal pages.
  local name
  for name in $(grep -rhoE 'env = "[A-Z0-9_]+"' "$work/portal/services" | sed -E 's/env = "(.*)"/\1/' | sort -u); do
    export "$name=bench-not-a-secret"
  done
  RUST_LOG=warn "$bin/egov-gateway" serve --config "$work/portal/gateway.toml" >"$work/gw-portal.log" 2>&1 &
  procs[portal-home]=$!
  pids+=($!)
  wait_port "$gw"
  mkdir -p "$work/www" "$work/nginx-static/logs"
  curl -s -H 'Accept-Language: ar' "http://127.0.0.1:$gw/" >"$work/www/index.html"
  chmod -R a+rX "$work/www"; chmod a+x "$work"
  cat >"$work/nginx-static/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/nginx-static/nginx.pid;
error_log $work/nginx-static/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type text/html;
  server { listen 127.0.0.1:$ng; root $work/www; add_header Cache-Control no-store; }
}
NGINX
  nginx -c "$work/nginx-static/nginx.conf" -p "$work/nginx-static" &
  local nginx_master=$!
  pids+=($nginx_master)
  wait_port "$ng"
  procs[nginx-static]=$(pgrep -P "$nginx_master" | tr '\n' ' ')
  url[portal-home]="http://127.0.0.1:$gw/"; hdr[portal-home]="Accept-Language: ar"
  url[nginx-static]="http://127.0.0.1:$ng/index.html"; hdr[nginx-static]="X-Bench: 1"
  targets=(portal-home nginx-static)
  check
  run_rounds
  ratio "portal home/nginx static file" portal-home nginx-static
  local total=0 part size
  for part in / $(grep -o '/assets/[a-z]*\.[0-9a-f]*\.css' "$work/www/index.html"); do
    size=$(curl -s -o /dev/null -w '%{size_download}' -H 'Accept-Language: ar' "http://127.0.0.1:$gw$part")
    printf '%-34s %8s bytes\n' "$part" "$size"
    total=$((total + size))
  done
  printf '%-34s %8s bytes (%s KB)\n' "home page + stylesheets" "$total" "$((total / 1024))"
  threads=$saved_threads
}

memory_bench() {
  local est gw pid hwm0 hwm20 hwm100 bytes20 bytes100
  est=$(free_port); gw=$(free_port)
  start_estate "$est"
  # cnie-renewal: a windows-1256 site with absolute links (charset + html-links steps).
  local saved_service=$service
  service=cnie-renewal
  gateway_config "$est" "$work/mem" "" "$gw"
  service=$saved_service
  RUST_LOG=warn "$bin/egov-gateway" serve --config "$work/mem/gateway.toml" >"$work/gw-mem.log" 2>&1 &
  pid=$!
  pids+=($pid)
  wait_port "$est"; wait_port "$gw"
  local page="http://127.0.0.1:$gw/s/cnie-renewal/__estate/big"
  # Warm up: each worker thread's allocator caches, pools and buffers, with 1 MB pages, each
  # on a new connection (with a runtime per thread, the kernel picks the thread by
  # connection: 16 leave a thread unwarmed once in 30,000 runs, 4 did once in 8).
  for _ in $(seq 1 16); do curl -s -o /dev/null "$page?mb=1"; done
  hwm() { awk '/VmHWM/ {print $2}' "/proc/$pid/status"; }
  hwm0=$(hwm)
  bytes20=$(curl -s -o /dev/null -w '%{size_download}' "$page?mb=20"); hwm20=$(hwm)
  bytes100=$(curl -s -o /dev/null -w '%{size_download}' "$page?mb=100"); hwm100=$(hwm)
  echo "peak RSS (VmHWM) of the gateway, KiB: after 1 MB pages $hwm0, after a 20 MB page $hwm20 ($bytes20 bytes out), after a 100 MB page $hwm100 ($bytes100 bytes out)"
  python3 -c "import sys; a,b,c=map(int,sys.argv[1:]); print(f'peak growth over the 1 MB pages: 20 MB page {(b-a)/1024:.1f} MiB, 100 MB page {(c-a)/1024:.1f} MiB')" "$hwm0" "$hwm20" "$hwm100"
}

# Mixed traffic for $secs seconds (60 is the soak) across the shipped services (those without
# a service-account secret): public
# pages, citizen pages (login redirects), stored and uncacheable answers, 404s and refused
# paths, from $conns connections. Prints the gateway's resident memory every 5 s and its
# growth from the 10 s mark to the end, and how many answers were not 2xx/3xx (the mix has
# 404s and 400s on purpose).
soak_bench() {
  local est gw pid dir="$work/soak"
  est=$(free_port); gw=$(free_port)
  start_estate "$est"
  mkdir -p "$dir"
  sed -e "s#^listen = \[\"127.0.0.1:8080\"\]#listen = [\"127.0.0.1:$gw\"]#" \
      -e "s#^public_url = .*#public_url = \"http://127.0.0.1:$gw\"#" \
      -e "s#^threads = .*#threads = $threads#" \
      -e 's#^listen = "127.0.0.1:990[12]"#listen = ""#' \
      config/gateway.toml >"$dir/gateway.toml"
  cp config/ministries.toml "$dir/"
  cp -r config/services "$dir/services"
  # Services with a service-account secret need the estate's credentials: left out here.
  grep -l "EGOV_SECRET" "$dir"/services/*/*.toml | xargs rm -f
  find "$dir/services" -name '*.toml' -exec sed -i "s#127.0.0.1:9400#127.0.0.1:$est#" {} +
  RUST_LOG=warn "$bin/egov-gateway" serve --config "$dir/gateway.toml" >"$work/gw-soak.log" 2>&1 &
  pid=$!
  pids+=($pid)
  wait_port "$est"
  wait_port "$gw" || { tail -n 20 "$work/gw-soak.log" >&2; exit 1; }
  # Every service's front page and a few pages each, plus what attackers and typos send.
  local paths
  paths=$(for f in "$dir"/services/*/*.toml; do
      id=$(basename "$f" .toml)
      printf '"/s/%s/", "/s/%s/__estate/echo?q=1", "/s/%s/__estate/cacheable?tag=soak-%s&cc=max-age%%3D5", ' "$id" "$id" "$id" "$id"
    done)
  cat >"$work/soak.lua" <<LUA
paths = { $paths "/", "/nowhere", "/s/nowhere/", "/s/cnie-renewal/../x", "/s/cnie-renewal/%2e%2e/x" }
i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
LUA
  rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
  echo "soak: ${secs}s of mixed traffic, wrk -t1 -c$conns, $(ls "$dir"/services/*/*.toml | wc -l) services"
  wrk -t1 -c"$conns" -d"${secs}s" --latency -s "$work/soak.lua" "http://127.0.0.1:$gw" >"$work/soak.out" 2>&1 &
  local wrk_pid=$! samples=() t=0
  while kill -0 "$wrk_pid" 2>/dev/null; do
    sleep 5; t=$((t + 5))
    samples+=("$(rss)")
    printf 'RSS at %3ss: %s KiB\n' "$t" "${samples[-1]}"
  done
  wait "$wrk_pid" || true
  grep -E "Requests/sec|requests in|50%|99%|Non-2xx|Socket errors" "$work/soak.out" || true
  # What the mix's paths answer, each asked once more (404s, 400s and login redirects are
  # part of the mix).
  eval "set -- $(sed -n 's/^paths = { \(.*\) }$/\1/p' "$work/soak.lua" | tr ',' ' ')"
  for p in "$@"; do curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$gw$p"; done \
    | sort | uniq -c | awk '{printf "%s paths answer %s\n", $1, $2}'
  python3 -c "import sys; v=[int(x) for x in sys.argv[1:]]; a=v[1] if len(v)>2 else v[0]; print(f'RSS from the 10 s mark to the end: {a/1024:.1f} MiB -> {v[-1]/1024:.1f} MiB ({(v[-1]-a)/1024:+.1f} MiB)')" "${samples[@]}"
}

# Stops every process started so far and forgets the figures (between thread counts).
stop_all() {
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
  rps=(); p50=(); p99=(); rpc=(); errs=(); procs=(); url=(); hdr=()
}

# The proxy benchmark at one worker thread (process) each, then at two.
proxy_threads() {
  for threads in ${EGOV_BENCH_THREADS:-1 2}; do
    echo "== $threads worker thread(s) each =="
    proxy_bench
    stop_all
    echo
  done
}

# Memory of the gateway and of a bare pingora holding $EGOV_BENCH_IDLE (10,000) idle keep-alive
# client connections, each of which has served one request (1 KB object) and now waits.
idle_bench() {
  local est gw bare n="${EGOV_BENCH_IDLE:-10000}" t port rss0 rss1 hwm ready done_file served
  est=$(free_port); gw=$(free_port); bare=$(free_port)
  start_estate "$est"
  gateway_config "$est" "$work/idle" "" "$gw"
  # One address opens them all: the per-address cap (256) would refuse most.
  sed -i -e 's/^max_connections_per_ip = .*/max_connections_per_ip = 100000/' \
      -e 's/^# max_connections = .*/max_connections = 15000/' "$work/idle/gateway.toml"
  RUST_LOG=warn "$bin/egov-gateway" serve --config "$work/idle/gateway.toml" >"$work/gw-idle.log" 2>&1 &
  procs[gateway]=$!; pids+=($!)
  "$bin/examples/bare-pingora" "127.0.0.1:$bare" "127.0.0.1:$est" "$host" "$threads" gateway-settings >"$work/bare.log" 2>&1 &
  procs[bare-pingora]=$!; pids+=($!)
  # pingora's own defaults (a 64 KiB read buffer per connection), for comparison.
  local plain; plain=$(free_port)
  "$bin/examples/bare-pingora" "127.0.0.1:$plain" "127.0.0.1:$est" "$host" "$threads" >"$work/bare-plain.log" 2>&1 &
  procs[pingora-defaults]=$!; pids+=($!)
  for port in "$est" "$gw" "$bare" "$plain"; do wait_port "$port"; done
  echo "$n idle keep-alive connections, each after one request; resident memory (VmRSS) of each proxy"
  printf '%-16s %8s %12s %13s %16s\n' proxy 'served' 'before MiB' 'holding MiB' 'KiB/connection'
  for t in gateway bare-pingora pingora-defaults; do
    local path="/$service/$blob" h="$host"
    port=$bare
    [ "$t" = pingora-defaults ] && port=$plain
    if [ "$t" = gateway ]; then path="/s/$service/$blob"; h="127.0.0.1:$gw"; port=$gw; fi
    for _ in $(seq 1 50); do curl -s -o /dev/null -H "Host: $h" "http://127.0.0.1:$port$path"; done
    rss0=$(awk '/VmRSS/ {print $2}' "/proc/${procs[$t]}/status")
    ready="$work/ready-$t"; done_file="$work/done-$t"
    python3 "$root/tests/bench/idle_connections.py" "$port" "$path" "$h" "$n" "$ready" "$done_file" >"$work/idle-$t.out" &
    local client=$!
    for _ in $(seq 1 1200); do [ -s "$ready" ] && break; sleep 0.1; done
    sleep 1
    rss1=$(awk '/VmRSS/ {print $2}' "/proc/${procs[$t]}/status")
    served=$(cat "$ready")
    touch "$done_file"
    wait "$client"
    printf '%-16s %8s %12s %13s %16s\n' "$t" "$served" "$((rss0 / 1024))" "$((rss1 / 1024))" \
      "$(python3 -c "print(round(($rss1 - $rss0) / max(1, $served), 1))")"
    echo "  $(cat "$work/idle-$t.out")"
  done
}

flood_bench() {
  local est gw pid i round
  est=$(free_port)
  start_estate "$est"
  wait_port "$est"
  local builds=("$bin/egov-gateway") names=(this)
  if [ -n "${EGOV_BENCH_BASELINE:-}" ]; then builds+=("$EGOV_BENCH_BASELINE"); names+=(baseline); fi
  local path="/s/$service/$blob"
  for round in $(seq 1 "$rounds"); do
    for i in "${!builds[@]}"; do
      gw=$(free_port)
      gateway_config "$est" "$work/flood-$i" "" "$gw"
      # Unknown to the builds before it; its default (10 s) applies to those after.
      sed -i '/^flood_penalty = /d' "$work/flood-$i/gateway.toml"
      RUST_LOG=error "${builds[$i]}" serve --config "$work/flood-$i/gateway.toml" >"$work/gw-flood-$i.log" 2>&1 &
      pid=$!
      pids+=("$pid")
      wait_port "$gw"
      curl -s -o /dev/null "http://127.0.0.1:$gw$path"
      echo "round $round, ${names[$i]}, citizen alone:   $(python3 "$root/tests/bench/h2_flood.py" 127.0.0.1 "$gw" 0 5 "$pid" "$path")"
      echo "round $round, ${names[$i]}, 8 flood threads: $(python3 "$root/tests/bench/h2_flood.py" 127.0.0.1 "$gw" 8 "$secs" "$pid" "$path")" \
        "time_wait_on_gateway_port=$(ss -Htan state time-wait "( sport = :$gw )" | wc -l)"
      kill -INT "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    done
  done
}

case "$mode" in
  proxy) proxy_threads ;;
  profile) profile_bench ;;
  latency) latency_bench ;;
  idle) idle_bench ;;
  auth) auth_bench ;;
  telemetry) telemetry_bench ;;
  registry) registry_bench ;;
  cache) cache_bench ;;
  portal) portal_bench ;;
  memory) memory_bench ;;
  flood) flood_bench ;;
  soak) soak_bench ;;
  all) proxy_threads; echo; auth_bench; echo; telemetry_bench; echo; registry_bench; echo; cache_bench; echo; memory_bench ;;
  *) echo "usage: $0 [proxy|profile|idle|auth|telemetry|registry|cache|portal|memory|flood|soak|all] [seconds] [connections] [rounds]" >&2; exit 2 ;;
esac
