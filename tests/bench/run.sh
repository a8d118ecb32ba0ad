#!/usr/bin/env bash
# Proxy throughput on this machine, in one run: the estate directly, nginx as a keep-alive
# reverse proxy, a bare pingora proxy (the framework's floor) and the gateway, each in
# front of the same estate site, alternated over several rounds (A B C D A B C D) so
# the ratios compare like with like. Prints req/s, p50/p99 and the ratios.
#
#   tests/bench/run.sh [seconds-per-run=10] [connections=32] [rounds=2]
set -euo pipefail

secs="${1:-10}"
conns="${2:-32}"
rounds="${3:-2}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
"$root/tests/setup.sh"

cd "$root"
cargo build --release -q -p egov-gateway -p egov-estate
cargo build --release -q -p egov-integration --example bare-pingora
bin="${CARGO_TARGET_DIR:-$root/target}/release"

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

service=cnie-first-application
host=www.cnie.ma
path="/$service/__estate/blob?bytes=1024"
threads=2

est=$(free_port); ng=$(free_port); bare=$(free_port); gw=$(free_port)

"$bin/egov-estate" --listen "127.0.0.1:$est" --no-chaos >"$work/estate.log" 2>&1 &
pids+=($!)

mkdir -p "$work/nginx/logs" "$work/config/services/interior"
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
pids+=($!)

"$bin/examples/bare-pingora" "127.0.0.1:$bare" "127.0.0.1:$est" "$host" "$threads" >"$work/bare.log" 2>&1 &
pids+=($!)

# The gateway with the repository's settings and the one service under test.
sed -e "s#^listen = \[\"127.0.0.1:8080\"\]#listen = [\"127.0.0.1:$gw\"]#" \
    -e "s#^public_url = .*#public_url = \"http://127.0.0.1:$gw\"#" \
    -e "s#^threads = .*#threads = $threads#" \
    -e 's#^listen = "127.0.0.1:990[12]"#listen = ""#' \
    config/gateway.toml >"$work/config/gateway.toml"
cp config/ministries.toml "$work/config/"
sed -e "s#127.0.0.1:9400#127.0.0.1:$est#" "config/services/interior/$service.toml" \
    >"$work/config/services/interior/$service.toml"
RUST_LOG=warn "$bin/egov-gateway" serve --config "$work/config/gateway.toml" >"$work/gateway.log" 2>&1 &
pids+=($!)

for p in "$est" "$ng" "$bare" "$gw"; do wait_port "$p"; done

declare -A url hdr
url[direct]="http://127.0.0.1:$est$path";  hdr[direct]="Host: $host"
url[nginx]="http://127.0.0.1:$ng$path";    hdr[nginx]="Host: $host"
url[bare]="http://127.0.0.1:$bare$path";   hdr[bare]="Host: $host"
url[gateway]="http://127.0.0.1:$gw/s/$service/__estate/blob?bytes=1024"; hdr[gateway]="X-Bench: 1"

for t in direct nginx bare gateway; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "${hdr[$t]}" "${url[$t]}")
  [ "$code" = 200 ] || { echo "$t answered $code" >&2; cat "$work"/*.log >&2; exit 1; }
done

to_ms() { python3 -c "import sys,re; v=sys.argv[1]; m=re.match(r'([0-9.]+)(us|ms|s)',v); f={'us':0.001,'ms':1,'s':1000}[m.group(2)]; print(round(float(m.group(1))*f,3))" "$1"; }

declare -A rps p50 p99
echo "wrk -t1 -c$conns -d${secs}s, 1 KB object, $rounds rounds, proxies with $threads worker threads"
printf '%-8s %-6s %12s %10s %10s\n' target round 'req/s' 'p50 ms' 'p99 ms'
for r in $(seq 1 "$rounds"); do
  for t in direct nginx bare gateway; do
    out=$(wrk -t1 -c"$conns" -d"${secs}s" --latency -H "${hdr[$t]}" "${url[$t]}")
    req=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    l50=$(to_ms "$(awk '$1=="50%" {print $2}' <<<"$out")")
    l99=$(to_ms "$(awk '$1=="99%" {print $2}' <<<"$out")")
    printf '%-8s %-6s %12s %10s %10s\n' "$t" "$r" "$req" "$l50" "$l99"
    rps[$t]="${rps[$t]:-} $req"; p50[$t]="${p50[$t]:-} $l50"; p99[$t]="${p99[$t]:-} $l99"
  done
done

mean() { python3 -c "import sys; v=[float(x) for x in sys.argv[1:]]; print(round(sum(v)/len(v),1))" $1; }
echo
printf '%-8s %12s %10s %10s\n' target 'mean req/s' 'p50 ms' 'p99 ms'
for t in direct nginx bare gateway; do
  printf '%-8s %12s %10s %10s\n' "$t" "$(mean "${rps[$t]}")" "$(mean "${p50[$t]}")" "$(mean "${p99[$t]}")"
done
g=$(mean "${rps[gateway]}"); n=$(mean "${rps[nginx]}"); b=$(mean "${rps[bare]}"); d=$(mean "${rps[direct]}")
echo
python3 - "$g" "$n" "$b" "$d" <<'PY'
import sys
g, n, b, d = map(float, sys.argv[1:])
print(f"gateway/nginx        {g/n:.2f}")
print(f"gateway/bare-pingora {g/b:.2f}")
print(f"gateway/direct       {g/d:.2f}")
PY
