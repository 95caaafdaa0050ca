#!/usr/bin/env bash
# MCP responses (the "MCP responses" issue's benchmark; gateway/loop/mcpresp.c): one gateway, two
# upstreams on the same loopback origin (bench/mcp-upstream.js, node): /mcp with protocol = mcp
# (tools/list answers filtered to what the token may use) and /plain with protocol = http.
#  (1) a 100-tool tools/list answer filtered to 10, as application/json and as one SSE event:
#      added latency (p50, wrk with LIST_CONNS = 1, i.e. sequential) and gateway CPU per response,
#      mcp − plain in the same round; the /mcp answer is checked to hold exactly 10 tools first;
#  (2) SSE streams of STREAM_N (10k) small events, STREAM_PER (20) back to back per sample: events/s,
#      goal mcp ÷ plain >= 0.9 in the same round, for a POST tools/list answered by a stream of
#      notifications and then the answer (mcp-list: the gateway reads every event, the answer may be
#      any of them; plain-list) and for a GET stream (mcp: judged by route and passed through; plain;
#      direct, without the gateway);
#  (3) IDLE_N (1000) concurrent idle SSE streams through /mcp (and /plain for reference), each path
#      in a fresh gateway process after IDLE_WARM (100) warm-up streams: the gateway's RSS growth per
#      stream, goal <= 2048 bytes.
#
#   bash bench/mcp-lists-bench.sh              # 5 rounds x 5 s x 4 list runs, 20 stream rounds, 1000 streams; ~2 min
#   QUICK=1 bash bench/mcp-lists-bench.sh      # smoke run: 1 round of 2 s, 3 stream rounds, 200 idle streams
#
# Knobs (env): ROUNDS=5 LIST_DURATION=5 LIST_CONNS=1 WARMUP=1 STREAM_N=10000 STREAM_REPS=15 STREAM_PER=20
#   STREAM_BATCH=32 (events per upstream write) IDLE_N=1000 IDLE_WARM=100 IDLE_SETTLE_MS=2000 MIN_EPS_RATIO=0.9
#   MAX_IDLE_BYTES=2048 PARTS="list stream idle" (which of (1)-(3) to run) GW_BIN=<repo>/build/gateway GW_WORKERS=0 GW_MAX_CONNS=10000
#   PB_UPSTREAM_PORT=18481 GW_PORT=18490 GW_IDLE_PORT=18491 PB_RUN=/tmp/mcp-lists-bench-run PIN=1
#   OUT=bench/results/mcp-lists-bench-<stamp> PEERBENCH=<repo>/../shared/peerbench
# The upstream and the gateway run on CPU 0, the clients (wrk, node) on CPU 1. Everything started
# here is stopped at exit by recorded PID. Results: $OUT/summary.md (printed), list.jsonl,
# stream.jsonl, idle.jsonl, raw/, conf/, env.txt.
set -euo pipefail
# shellcheck source=bench/gwbench.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/gwbench.sh"
gb_init mcp-lists-bench /tmp/mcp-lists-bench-run 18481

if [ "${QUICK:-0}" = 1 ]; then : "${ROUNDS:=1}" "${LIST_DURATION:=2}" "${WARMUP:=1}" "${STREAM_REPS:=3}" "${STREAM_PER:=5}" "${IDLE_N:=200}" "${IDLE_SETTLE_MS:=1000}"; fi
ROUNDS=${ROUNDS:-5}; LIST_DURATION=${LIST_DURATION:-5}; LIST_CONNS=${LIST_CONNS:-1}; WARMUP=${WARMUP:-1}
STREAM_N=${STREAM_N:-10000}; STREAM_REPS=${STREAM_REPS:-15}; STREAM_PER=${STREAM_PER:-20}; STREAM_BATCH=${STREAM_BATCH:-32}
IDLE_N=${IDLE_N:-1000}; IDLE_SETTLE_MS=${IDLE_SETTLE_MS:-2000}
MIN_EPS_RATIO=${MIN_EPS_RATIO:-0.9}; MAX_IDLE_BYTES=${MAX_IDLE_BYTES:-2048}
GW_BIN=${GW_BIN:-$REPO/build/gateway}; GW_WORKERS=${GW_WORKERS:-0}; GW_MAX_CONNS=${GW_MAX_CONNS:-10000}
GW_PORT=${GW_PORT:-18490}; GW_IDLE_PORT=${GW_IDLE_PORT:-18491}; IDLE_WARM=${IDLE_WARM:-100}
PARTS=" ${PARTS:-list stream idle} "
part() { [[ "$PARTS" == *" $1 "* ]]; }
gb_ints STREAM_PER IDLE_WARM GW_IDLE_PORT ROUNDS LIST_DURATION LIST_CONNS WARMUP STREAM_N STREAM_REPS STREAM_BATCH IDLE_N IDLE_SETTLE_MS MAX_IDLE_BYTES GW_WORKERS GW_MAX_CONNS GW_PORT
[ "$ROUNDS" -ge 1 ] && [ "$LIST_DURATION" -ge 1 ] && [ "$LIST_CONNS" -ge 1 ] && [ "$STREAM_N" -ge 1 ] && [ "$STREAM_REPS" -ge 1 ] \
  && [ "$STREAM_BATCH" -ge 1 ] && [ "$IDLE_N" -ge 1 ] || pb_die "ROUNDS, LIST_DURATION, LIST_CONNS, STREAM_N, STREAM_REPS, STREAM_BATCH, IDLE_N must be >= 1"
# Every idle stream is a client connection of the gateway, and a socket of the client, the gateway
# (twice: client and upstream side) and the upstream: all under this shell's (raised) limit.
[ "$IDLE_N" -lt "$GW_MAX_CONNS" ] || pb_die "IDLE_N=$IDLE_N needs GW_MAX_CONNS (the gateway's max_connections) above it"
[ "$(ulimit -n)" -ge $((2 * IDLE_N + 256)) ] || pb_die "ulimit -n is $(ulimit -n) (hard $(ulimit -Hn)): IDLE_N=$IDLE_N needs >= $((2 * IDLE_N + 256))"
gb_need wrk node curl taskset
gb_ports_free "$PB_UPSTREAM_PORT" "$GW_PORT" "$GW_IDLE_PORT"
GW=$(gb_copy_bin "$GW_BIN" mcplists)
: > "$OUT/list.jsonl"; : > "$OUT/stream.jsonl"; : > "$OUT/idle.jsonl"
# shellcheck disable=SC2034  # read by gb_wrk (wrk -c/-t)
CONNS=$LIST_CONNS; THREADS=1   # gb_wrk's wrk -c/-t
{
  echo "date: $(date -Is)"
  echo "host: $(uname -srm), $(nproc) CPUs, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
  echo "load before run: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "gateway: $GW_BIN (sha256 $(sha256sum "$GW" | cut -c1-16), repo $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)), workers=$GW_WORKERS, max_connections=$GW_MAX_CONNS"
  echo "upstream: bench/mcp-upstream.js ($(node -v)) on 127.0.0.1:$PB_UPSTREAM_PORT; run dir $RUN; ulimit -n $(ulimit -n)"
  echo "pinning: PIN=$PIN server_cpu=$PB_SERVER_CPU (upstream + gateway) client_cpu=$PB_CLIENT_CPU (wrk, node clients)"
  echo "list: rounds=$ROUNDS x ${LIST_DURATION}s per format and side, warm-up ${WARMUP}s, wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}') -t1 -c$LIST_CONNS"
  echo "stream: $STREAM_PER x $STREAM_N events per sample, $STREAM_BATCH per upstream write, $STREAM_REPS rounds; idle: $IDLE_N streams after $IDLE_WARM warm-up, settle ${IDLE_SETTLE_MS} ms, fresh gateway per path on :$GW_IDLE_PORT"
} > "$OUT/env.txt"
cat "$OUT/env.txt" >&2

# ---- token, policy, gateway -------------------------------------------------------------------------------
TOK=$RUN/tokens/mcp-lists-scope-a.txt   # scope "a": tools t0..t9 of the 100
gb_mint "$TOK" a
LISTS=$RUN/conf/tools-list-bodies.txt   # bench/wrk-mcp.lua cycles through these requests
for i in $(seq 1 64); do printf '{"jsonrpc":"2.0","id":%d,"method":"tools/list","params":{}}\n' "$i"; done > "$LISTS"
{
  echo '; rendered by bench/mcp-lists-bench.sh: t0..t9 need scope a (the token has it), t10..t99 scope b'
  printf '[defaults]\nunmatched = deny\n\n[* /mcp/**]\nauth = token\n\n[* /plain/**]\nauth = token\n'
  for i in $(seq 0 99); do printf '\n[mcp-tool:t%d]\nscopes = %s\n' "$i" "$([ "$i" -lt 10 ] && echo a || echo b)"; done
} > "$RUN/conf/mcp-lists.policy.ini"
gb_conf_mcp_plain bench/mcp-lists-bench.sh "$GW_PORT" "$GW_WORKERS" "$PB_UPSTREAM_PORT" "$RUN/conf/mcp-lists.policy.ini" "$GW_MAX_CONNS" \
  > "$RUN/conf/mcp-lists.ini"
sed "s/^listen = .*/listen = 127.0.0.1:$GW_IDLE_PORT/; s|^public_url = .*|public_url = http://127.0.0.1:$GW_IDLE_PORT|" \
  "$RUN/conf/mcp-lists.ini" > "$RUN/conf/mcp-lists-idle.ini"
cp "$RUN/conf/mcp-lists.policy.ini" "$OUT/conf/"

STARTED+=(upstream)   # listed first: a signal from here on still stops it
$(pb_pin server) node "$BENCH_DIR/mcp-upstream.js" "$PB_UPSTREAM_PORT" 100 > "$RUN/logs/upstream.log" 2>&1 </dev/null &
echo $! > "$RUN/pids/upstream.pid"
pb_wait_port "$PB_UPSTREAM_PORT" 10 || { cat "$RUN/logs/upstream.log" >&2; pb_die "upstream did not listen on :$PB_UPSTREAM_PORT"; }
pb_record_pid upstream "$(awk '{print $1}' "$RUN/pids/upstream.pid")"
gb_gw_start gateway "$GW" "$RUN/conf/mcp-lists.ini" "$GW_PORT"
GWPID=$(pb_pid gateway)
UPPID=$(pb_pid upstream)

# ---- checks: the upstream answers 100 tools; /mcp 10 (JSON and SSE), /plain 100; no token 401 ---------------
chk() { node "$BENCH_DIR/mcp-lists.js" check "$@" >&2 || pb_die "check failed: $*"; }
chk "$PB_UPSTREAM_PORT" /direct "$TOK" json 100
for f in json sse; do chk "$GW_PORT" /mcp "$TOK" "$f" 10; chk "$GW_PORT" /plain "$TOK" "$f" 100; done
gb_expect "POST /mcp without a token" 401 -X POST -H 'Content-Type: application/json' --data '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' "http://127.0.0.1:$GW_PORT/mcp"
gb_expect "GET /mcp/stream" 200 -H "Authorization: Bearer $(head -1 "$TOK")" "http://127.0.0.1:$GW_PORT/mcp/stream?n=3"
pb_log "checks ok: upstream 100 tools; /mcp 10 tools (JSON and SSE), /plain 100; no token 401"

# ---- (1) tools/list latency and CPU, interleaved rounds -----------------------------------------------------
list() { # ROUND FORMAT SIDE SECONDS
  local q=''; [ "$2" = sse ] && q='?sse=1'
  gb_wrk "{\"round\":$1,\"target\":\"tools/list $2\",\"side\":\"$3\"}" "$GWPID" "http://127.0.0.1:$GW_PORT/$3" \
    "$BENCH_DIR/wrk-mcp.lua" "$4" "$OUT/raw/list-r$1-$2-$3.txt" -- "$LISTS" "$TOK" "/$3$q"
}
if part list && [ "$WARMUP" -gt 0 ]; then
  pb_log "warm-up ${WARMUP}s per format and side ..."
  for f in json sse; do for s in plain mcp; do list 0 "$f" "$s" "$WARMUP" > /dev/null; done; done
fi
for r in $(seq 1 "$ROUNDS"); do
  part list || break
  if [ $((r % 2)) = 1 ]; then order=(plain mcp); else order=(mcp plain); fi
  for f in json sse; do
    for s in "${order[@]}"; do
      line=$(list "$r" "$f" "$s" "$LIST_DURATION"); echo "$line" >> "$OUT/list.jsonl"
      node -e 'const r = JSON.parse(process.argv[1]); console.error(`[round ${r.round}] ${r.target} ${r.side.padEnd(5)} ${Math.round(r.rps)} resp/s  p50 ${r.p50_us} µs  gateway ${(r.cpu_ns / r.requests / 1000).toFixed(1)} µs/resp  errors ${r.errors}  non-2xx ${r.non2xx}`)' "$line"
    done
  done
done

# ---- (2) SSE pass-through throughput ----------------------------------------------------------------------------
if part stream; then
pb_log "stream: $STREAM_REPS rounds of $STREAM_PER x $STREAM_N events per side ..."
$(pb_pin client) node "$BENCH_DIR/mcp-lists.js" stream "$TOK" "$STREAM_N" "$STREAM_REPS" "$STREAM_PER" "$GWPID" \
  "plain-list=POST:$GW_PORT:/plain?batch=$STREAM_BATCH" "mcp-list=POST:$GW_PORT:/mcp?batch=$STREAM_BATCH" \
  "plain=$GW_PORT:/plain/stream?batch=$STREAM_BATCH" "mcp=$GW_PORT:/mcp/stream?batch=$STREAM_BATCH" \
  "direct=$PB_UPSTREAM_PORT:/direct/stream?batch=$STREAM_BATCH" \
  > "$OUT/stream.jsonl" 2> "$OUT/raw/stream.err" || { cat "$OUT/raw/stream.err" >&2; pb_die "stream reads failed"; }
pb_alive "$GWPID" || pb_die "gateway died during the stream reads"
fi

# ---- (3) idle SSE streams ----------------------------------------------------------------------------------------
# Each path in a fresh gateway process (same binary and config, port GW_IDLE_PORT): in one process the
# second probe would reuse the memory the first one freed (RSS does not shrink) and read ~0.
for s in mcp plain; do
  part idle || break
  gb_gw_start "gateway-idle-$s" "$GW" "$RUN/conf/mcp-lists-idle.ini" "$GW_IDLE_PORT"
  IPID=$(pb_pid "gateway-idle-$s")
  pb_log "idle: $IDLE_N concurrent SSE streams on /$s/idle (after $IDLE_WARM warm-up streams) ..."
  $(pb_pin client) node "$BENCH_DIR/mcp-lists.js" idle "$GW_IDLE_PORT" "/$s/idle" "$TOK" "$IDLE_N" "$IPID" "$IDLE_SETTLE_MS" 100 "$IDLE_WARM" \
    >> "$OUT/idle.jsonl" 2> "$OUT/raw/idle-$s.err" || { cat "$OUT/raw/idle-$s.err" >&2; tail -1 "$OUT/idle.jsonl" >&2; pb_die "idle streams on /$s/idle failed"; }
  pb_alive "$IPID" || pb_die "gateway-idle-$s died during the idle streams"
  pb_stop "gateway-idle-$s"
done

status=0
{
  echo "# MCP responses ($STAMP)"; echo; echo '```'; cat "$OUT/env.txt"; echo '```'; echo
  node "$BENCH_DIR/mcp-lists.js" summary "$OUT/list.jsonl" "$OUT/stream.jsonl" "$OUT/idle.jsonl" "$MIN_EPS_RATIO" "$MAX_IDLE_BYTES" || status=1
} > "$OUT/summary.md"
cat "$OUT/summary.md"
pb_log "results in $OUT (upstream pid $UPPID, gateway pid $GWPID stopped at exit)"
exit "$status"
