#!/usr/bin/env bash
# Idle SSE streams (issue 14's "1,000 concurrent idle SSE streams cost at most 2 KB each"): IDLE_N
# concurrent GET streams through the gateway (workers = 1) to an upstream that sends one event and
# then keeps the stream open (bench/mcp-upstream.js, .../idle). Per path (/mcp: protocol = mcp,
# /plain: protocol = http) a fresh gateway process: IDLE_WARM streams opened and closed first (the
# first-touch of its pools and tables), then VmRSS before and after opening IDLE_N streams (each
# until its first event, then SETTLE_MS of silence): bytes per stream = the growth / IDLE_N. nginx
# (proxy_buffering off, one process) through the same upstream is the reference, if installed.
#
#   bash bench/sse-idle-bench.sh               # 1000 streams per path, 2 repetitions, ~1 min
#   QUICK=1 bash bench/sse-idle-bench.sh       # 300 streams, 1 repetition
#
# Knobs (env): IDLE_N=1000 IDLE_WARM=100 IDLE_BATCH=100 SETTLE_MS=2000 REPS=2 NGINX=1 MAX_IDLE_BYTES=2048
#   GW_BIN=<repo>/build/gateway PB_UPSTREAM_PORT=18581 GW_PORT=18590 NGINX_PORT=18592
#   PB_RUN=/tmp/sse-idle-bench-run OUT=bench/results/sse-idle-bench-<stamp> PIN=1
# User-space RSS only: kernel socket buffers are not counted (the same for every proxy). Results:
# $OUT/summary.md (printed), idle.jsonl, raw/, conf/, env.txt.
set -euo pipefail
# shellcheck source=bench/gwbench.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/gwbench.sh"
gb_init sse-idle-bench /tmp/sse-idle-bench-run 18581

if [ "${QUICK:-0}" = 1 ]; then : "${IDLE_N:=300}" "${REPS:=1}" "${SETTLE_MS:=1000}"; fi
IDLE_N=${IDLE_N:-1000}; IDLE_WARM=${IDLE_WARM:-100}; IDLE_BATCH=${IDLE_BATCH:-100}; SETTLE_MS=${SETTLE_MS:-2000}
REPS=${REPS:-2}; NGINX=${NGINX:-1}; MAX_IDLE_BYTES=${MAX_IDLE_BYTES:-2048}
GW_BIN=${GW_BIN:-$REPO/build/gateway}; GW_PORT=${GW_PORT:-18590}; NGINX_PORT=${NGINX_PORT:-18592}
gb_ints IDLE_N IDLE_WARM IDLE_BATCH SETTLE_MS REPS NGINX MAX_IDLE_BYTES GW_PORT NGINX_PORT
[ "$IDLE_N" -ge 1 ] && [ "$IDLE_BATCH" -ge 1 ] && [ "$REPS" -ge 1 ] || pb_die "IDLE_N, IDLE_BATCH, REPS must be >= 1"
[ "$(ulimit -n)" -ge $((2 * IDLE_N + 256)) ] || pb_die "ulimit -n is $(ulimit -n): IDLE_N=$IDLE_N needs >= $((2 * IDLE_N + 256))"
gb_need node curl taskset
if [ "$NGINX" = 1 ] && ! command -v nginx >/dev/null; then pb_log "no nginx: reference skipped"; NGINX=0; fi
gb_ports_free "$PB_UPSTREAM_PORT" "$GW_PORT"
GW=$(gb_copy_bin "$GW_BIN" sseidle)
: > "$OUT/idle.jsonl"
{
  echo "date: $(date -Is)"
  echo "host: $(uname -srm), $(nproc) CPUs; load before run: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "gateway: $GW_BIN (sha256 $(sha256sum "$GW" | cut -c1-16), repo $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)), workers=1"
  echo "upstream: bench/mcp-upstream.js ($(node -v)) on 127.0.0.1:$PB_UPSTREAM_PORT; nginx reference: $([ "$NGINX" = 1 ] && nginx -v 2>&1 | sed 's/.*: //' || echo none)"
  echo "streams: $IDLE_N after $IDLE_WARM warm-up, batches of $IDLE_BATCH, settle $SETTLE_MS ms, $REPS repetition(s), a fresh process each"
} > "$OUT/env.txt"
cat "$OUT/env.txt" >&2

TOK=$RUN/tokens/sse-idle.txt
gb_mint "$TOK" a
printf '; rendered by bench/sse-idle-bench.sh\n[defaults]\nunmatched = deny\n\n[* /mcp/**]\nauth = token\n\n[* /plain/**]\nauth = token\n' \
  > "$RUN/conf/sse-idle.policy.ini"
gb_conf_mcp_plain bench/sse-idle-bench.sh "$GW_PORT" 1 "$PB_UPSTREAM_PORT" "$RUN/conf/sse-idle.policy.ini" $((4 * IDLE_N + 100)) \
  > "$RUN/conf/sse-idle.ini"
cp "$RUN/conf/sse-idle.policy.ini" "$OUT/conf/"
if [ "$NGINX" = 1 ]; then
  mkdir -p "$RUN/nginx"
  cat > "$RUN/conf/sse-idle.nginx.conf" <<EOF
# rendered by bench/sse-idle-bench.sh: one process, streams passed through unbuffered
master_process off;
daemon off;
worker_processes 1;
worker_rlimit_nofile $((4 * IDLE_N + 256));
pid $RUN/nginx/nginx.pid;
error_log $RUN/logs/nginx.error.log warn;
events { worker_connections $((4 * IDLE_N + 100)); use epoll; }
http {
  access_log off;
  client_body_temp_path $RUN/nginx/body;
  proxy_temp_path $RUN/nginx/proxy;
  fastcgi_temp_path $RUN/nginx/fastcgi;
  uwsgi_temp_path $RUN/nginx/uwsgi;
  scgi_temp_path $RUN/nginx/scgi;
  upstream up { server 127.0.0.1:$PB_UPSTREAM_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$NGINX_PORT backlog=4096;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 300s;
    }
  }
}
EOF
  cp "$RUN/conf/sse-idle.nginx.conf" "$OUT/conf/"
fi

STARTED+=(upstream)
$(pb_pin server) node "$BENCH_DIR/mcp-upstream.js" "$PB_UPSTREAM_PORT" 10 > "$RUN/logs/upstream.log" 2>&1 </dev/null &
echo $! > "$RUN/pids/upstream.pid"
pb_wait_port "$PB_UPSTREAM_PORT" 10 || { cat "$RUN/logs/upstream.log" >&2; pb_die "upstream did not listen on :$PB_UPSTREAM_PORT"; }
pb_record_pid upstream "$(awk '{print $1}' "$RUN/pids/upstream.pid")"

probe() { # NAME PORT PATH PID REP
  $(pb_pin client) node "$BENCH_DIR/mcp-lists.js" idle "$2" "$3" "$TOK" "$IDLE_N" "$4" "$SETTLE_MS" "$IDLE_BATCH" "$IDLE_WARM" \
    > "$RUN/tmp/idle.json" 2> "$OUT/raw/idle-$1-$5.err" || { cat "$OUT/raw/idle-$1-$5.err" "$RUN/tmp/idle.json" >&2; pb_die "idle streams on $1 failed"; }
  node -e 'const r = JSON.parse(process.argv[1]); console.log(JSON.stringify({ proxy: process.argv[2], rep: +process.argv[3], ...r }));' \
    "$(cat "$RUN/tmp/idle.json")" "$1" "$5" >> "$OUT/idle.jsonl"
  pb_log "$1 rep $5: $(node -e 'const r = JSON.parse(process.argv[1]); console.log(`${r.per_stream_bytes} bytes/stream (marginal ${r.marginal_per_stream_bytes}), RSS ${r.rss_before_kb} -> ${r.rss_idle_kb} -> ${r.rss_closed_kb} kB`)' "$(cat "$RUN/tmp/idle.json")")"
}
for rep in $(seq 1 "$REPS"); do
  for s in mcp plain; do
    gb_gw_start "gateway-$s" "$GW" "$RUN/conf/sse-idle.ini" "$GW_PORT"
    gb_expect "GET /$s/idle without a token" 401 "http://127.0.0.1:$GW_PORT/$s/idle"
    probe "gateway-$s" "$GW_PORT" "/$s/idle" "$(pb_pid "gateway-$s")" "$rep"
    pb_stop "gateway-$s"
  done
  if [ "$NGINX" = 1 ]; then
    gb_ports_free "$NGINX_PORT"
    STARTED+=(nginx)
    $(pb_pin server) nginx -c "$RUN/conf/sse-idle.nginx.conf" -p "$RUN/nginx/" -e "$RUN/logs/nginx.error.log" > "$RUN/logs/nginx.out" 2>&1 </dev/null &
    echo $! > "$RUN/pids/nginx.pid"
    pb_wait_port "$NGINX_PORT" 10 || { cat "$RUN/logs/nginx.error.log" >&2; pb_die "nginx did not listen on :$NGINX_PORT"; }
    pb_record_pid nginx "$(awk '{print $1}' "$RUN/pids/nginx.pid")"
    probe nginx "$NGINX_PORT" /plain/idle "$(pb_pid nginx)" "$rep"
    pb_stop nginx
  fi
done

status=0
{
  echo "# Idle SSE streams ($STAMP)"; echo; echo '```'; cat "$OUT/env.txt"; echo '```'; echo
  node -e '
    const fs = require("fs"), max = +process.argv[2];
    const rs = fs.readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
    const med = (v) => { const s = v.slice().sort((a, b) => a - b), m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
    console.log("| proxy | streams | bytes/stream, per repetition | median | marginal (second half) | RSS before → with streams → closed kB (last) |");
    console.log("|---|---:|---|---:|---:|---|");
    let ok = true;
    for (const p of [...new Set(rs.map((r) => r.proxy))]) {
      const x = rs.filter((r) => r.proxy === p), l = x[x.length - 1], m = med(x.map((r) => r.per_stream_bytes));
      if (p.startsWith("gateway") && (m > max || x.some((r) => r.open_after_settle !== r.n))) ok = false;
      console.log(`| ${p} | ${l.n} | ${x.map((r) => r.per_stream_bytes).join(", ")} | **${Math.round(m)}** | ${med(x.map((r) => r.marginal_per_stream_bytes))} | ${l.rss_before_kb} → ${l.rss_idle_kb} → ${l.rss_closed_kb} |`);
    }
    console.log(`\ngoal: at most ${max} bytes per idle stream in the gateway: ${ok ? "met" : "NOT met"}`);
    process.exit(ok ? 0 : 1);' "$OUT/idle.jsonl" "$MAX_IDLE_BYTES" || status=1
} > "$OUT/summary.md"
cat "$OUT/summary.md"
pb_log "results in $OUT"
exit "$status"
