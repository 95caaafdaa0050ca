#!/usr/bin/env bash
# MCP inspection cost (the MCP issue's benchmark): `tools/call` POSTs with a ~1 KB JSON-RPC body
# through a `protocol = mcp` upstream against the same POSTs through a plain (`protocol = http`)
# upstream of the SAME gateway process (same token cache, same upstream: peerbench's nginx
# `return 200`), cached RS256 token, interleaved rounds. Goal: mcp req/s >= 0.95 of plain (median of
# same-round ratios); also the inspection's CPU per request (gateway CPU µs/req, mcp - plain) and,
# with CALLGRIND=1, its instructions per request (callgrind, fixed request counts).
#
#   bash bench/mcp-bench.sh                        # 5 rounds x 10 s, ~2 min
#   QUICK=1 bash bench/mcp-bench.sh                # smoke run: 1 round of 3 s
#   CALLGRIND=1 bash bench/mcp-bench.sh            # + instructions per request under callgrind (~1 min more)
#
# Knobs (env): ROUNDS=5 DURATION=10 WARMUP=2 CONNS=64 THREADS=1 BODY_BYTES=1024 NBODIES=256 PIN=1
#   CALLGRIND=0 CG_REQUESTS=2000 CG_WARM=200 CG_CONC=8 GW_BIN=<repo>/build/gateway GW_WORKERS=0
#   PB_UPSTREAM_PORT=18281 GW_PORT=18290 GW_CG_PORT=18291 PB_RUN=/tmp/mcp-bench-run
#   OUT=bench/results/mcp-bench-<stamp> PEERBENCH=<repo>/../shared/peerbench (+ peerbench's PB_*)
# Its own ports and run dir: a bench/run.sh or peerbench run (18081-18084) is not disturbed, but
# do not run both at once (they share the two CPUs). Everything started here is stopped at exit by
# recorded PID. Results: $OUT/summary.md (printed), runs.jsonl, raw/, conf/, env.txt.
set -euo pipefail
# shellcheck source=bench/gwbench.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/gwbench.sh"
gb_init mcp-bench /tmp/mcp-bench-run 18281

if [ "${QUICK:-0}" = 1 ]; then : "${ROUNDS:=1}" "${DURATION:=3}" "${WARMUP:=1}" "${CG_REQUESTS:=500}"; fi
ROUNDS=${ROUNDS:-5}; DURATION=${DURATION:-10}; WARMUP=${WARMUP:-2}; CONNS=${CONNS:-64}; THREADS=${THREADS:-1}
BODY_BYTES=${BODY_BYTES:-1024}; NBODIES=${NBODIES:-256}
CALLGRIND=${CALLGRIND:-0}; CG_REQUESTS=${CG_REQUESTS:-2000}; CG_WARM=${CG_WARM:-200}; CG_CONC=${CG_CONC:-8}
GW_BIN=${GW_BIN:-$REPO/build/gateway}; GW_WORKERS=${GW_WORKERS:-0}
GW_PORT=${GW_PORT:-18290}; GW_CG_PORT=${GW_CG_PORT:-18291}
gb_ints ROUNDS DURATION WARMUP CONNS THREADS BODY_BYTES NBODIES CG_REQUESTS CG_WARM CG_CONC GW_WORKERS GW_PORT GW_CG_PORT
[ "$ROUNDS" -ge 1 ] && [ "$DURATION" -ge 1 ] && [ "$CONNS" -ge 1 ] && [ "$THREADS" -ge 1 ] && [ "$NBODIES" -ge 1 ] \
  && [ "$CG_REQUESTS" -ge 1 ] && [ "$CG_CONC" -ge 1 ] || pb_die "ROUNDS, DURATION, CONNS, THREADS, NBODIES, CG_REQUESTS, CG_CONC must be >= 1"
gb_need nginx wrk node curl taskset
if [ "$CALLGRIND" = 1 ]; then gb_need valgrind callgrind_control; fi
gb_ports_free "$PB_UPSTREAM_PORT" "$GW_PORT"
if [ "$CALLGRIND" = 1 ]; then gb_ports_free "$GW_CG_PORT"; fi
GW=$(gb_copy_bin "$GW_BIN" mcp)
: > "$OUT/runs.jsonl"
gb_env "gateway: $GW_BIN (sha256 $(sha256sum "$GW" | cut -c1-16), repo $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)), workers=$GW_WORKERS" \
  "rounds=$ROUNDS x ${DURATION}s, warm-up ${WARMUP}s; body $BODY_BYTES bytes, $NBODIES distinct ids; CALLGRIND=$CALLGRIND ($CG_REQUESTS requests per target, $CG_CONC connections)"

# ---- tokens and bodies ----------------------------------------------------------------------------------
TOK=$RUN/tokens/mcp-rs256.txt          # PB_SCOPE ("profiles:read tags:manage"): get_profile allowed
TOK_NOSCOPE=$RUN/tokens/mcp-rs256-noscope.txt   # lacks profiles:read: the mcp target must refuse it
gb_mint "$TOK" "$PB_SCOPE"
gb_mint "$TOK_NOSCOPE" "tags:manage"
BODIES=$RUN/conf/mcp-bodies.txt
node "$BENCH_DIR/mcp-load.js" bodies "$NBODIES" "$BODY_BYTES" "$BODIES"
head -1 "$BODIES" > "$RUN/tmp/body1.json"
cp "$RUN/tmp/body1.json" "$OUT/conf/body-example.json"

# ---- gateway: one process, two upstreams on the same origin -------------------------------------------
cat > "$RUN/conf/mcp-bench.policy.ini" <<'EOF'
; rendered by bench/mcp-bench.sh: the same route rule on both prefixes; only the mcp one is inspected
[defaults]
unmatched = deny

[* /mcp]
auth = token

[* /plain]
auth = token

[mcp-tool:get_profile]
scopes = profiles:read
EOF
gw_conf() { gb_conf_mcp_plain bench/mcp-bench.sh "$1" "$2" "$PB_UPSTREAM_PORT" "$RUN/conf/mcp-bench.policy.ini"; } # PORT WORKERS
gw_conf "$GW_PORT" "$GW_WORKERS" > "$RUN/conf/mcp-bench.ini"
cp "$RUN/conf/mcp-bench.policy.ini" "$OUT/conf/"

gb_upstream_start
gb_gw_start gateway-mcp "$GW" "$RUN/conf/mcp-bench.ini" "$GW_PORT"
GWPID=$(pb_pid gateway-mcp)

# ---- functional checks: both answer 200, and the mcp prefix really inspects the body -----------------------
U=http://127.0.0.1
post() { # PORT PATH TOKENFILE [curl args]
  local port=$1 path=$2 tok=$3; shift 3
  gb_status -X POST -H "Authorization: Bearer $(head -1 "$tok")" -H 'Accept: application/json, text/event-stream' \
    --data-binary @"$RUN/tmp/body1.json" "$@" "$U:$port$path"
}
ct=(-H 'Content-Type: application/json')
got=$(gb_status -X POST "${ct[@]}" --data-binary @"$RUN/tmp/body1.json" "$U:$PB_UPSTREAM_PORT/mcp")
[ "$got" = 200 ] || pb_die "check failed: the upstream answered POST with ${got:-nothing}, not 200"
for p in /plain /mcp; do
  got=$(post "$GW_PORT" "$p" "$TOK" "${ct[@]}"); [ "$got" = 200 ] || pb_die "check failed: POST $p with the token answered $got, not 200"
done
got=$(post "$GW_PORT" /mcp "$TOK_NOSCOPE" "${ct[@]}"); [ "$got" = 403 ] || pb_die "check failed: tools/call get_profile without profiles:read answered $got on /mcp, not 403 (is the body inspected?)"
got=$(post "$GW_PORT" /plain "$TOK_NOSCOPE" "${ct[@]}"); [ "$got" = 200 ] || pb_die "check failed: /plain without profiles:read answered $got, not 200"
got=$(post "$GW_PORT" /mcp "$TOK" -H 'Content-Type: text/plain'); [ "$got" = 415 ] || pb_die "check failed: /mcp with text/plain answered $got, not 415"
got=$(gb_status -X POST "${ct[@]}" --data-binary @"$RUN/tmp/body1.json" "$U:$GW_PORT/mcp"); [ "$got" = 401 ] || pb_die "check failed: /mcp without a token answered $got, not 401"
pb_log "checks ok: upstream 200 to POST; /plain and /mcp 200 with the token; without profiles:read /mcp 403, /plain 200; /mcp text/plain 415; no token 401"

# ---- interleaved rounds -------------------------------------------------------------------------------------
run() { # ROUND SIDE SECONDS
  gb_wrk "{\"round\":$1,\"target\":\"tools/call ${BODY_BYTES}B\",\"side\":\"$2\"}" "$GWPID" "$U:$GW_PORT/$2" \
    "$BENCH_DIR/wrk-mcp.lua" "$3" "$OUT/raw/r$1-$2.txt" -- "$BODIES" "$TOK" "/$2"
}
if [ "$WARMUP" -gt 0 ]; then pb_log "warm-up ${WARMUP}s per target ..."; for s in plain mcp; do run 0 "$s" "$WARMUP" > /dev/null; done; fi
for r in $(seq 1 "$ROUNDS"); do
  # Alternate which side goes first, so that a drift within a round does not favour one side.
  if [ $((r % 2)) = 1 ]; then order=(plain mcp); else order=(mcp plain); fi
  for s in "${order[@]}"; do
    line=$(run "$r" "$s" "$DURATION"); echo "$line" >> "$OUT/runs.jsonl"; gb_show "$line"
  done
done
status=0
{
  echo "# MCP inspection cost ($STAMP)"; echo; echo '```'; cat "$OUT/env.txt"; echo '```'; echo
  node "$BENCH_DIR/pairs.js" "$OUT/runs.jsonl" mcp plain 0.95 "protocol = mcp vs plain, same gateway, cached RS256 token" | grep -v '^PAIRS_JSON' || status=1
} > "$OUT/summary.md"

# ---- callgrind: instructions per request, fixed request counts --------------------------------------------------
if [ "$CALLGRIND" = 1 ]; then
  pb_log "callgrind: gateway under valgrind on :$GW_CG_PORT ($CG_REQUESTS requests per target) ..."
  CG=$RUN/callgrind-$STAMP; mkdir -p "$CG"
  gw_conf "$GW_CG_PORT" 1 > "$RUN/conf/mcp-bench-cg.ini"
  GB_START_TIMEOUT=120 gb_gw_start gateway-cg "$GW" "$RUN/conf/mcp-bench-cg.ini" "$GW_CG_PORT" \
    valgrind --tool=callgrind --callgrind-out-file="$CG/callgrind.out" --vgdb=yes
  CGPID=$(pb_pid gateway-cg)
  load() { $(pb_pin client) node "$BENCH_DIR/mcp-load.js" post "$GW_CG_PORT" "/$1" "$TOK" "$BODIES" "$2" "$CG_CONC" || pb_die "callgrind: /$1 load failed"; }
  for s in plain mcp; do load "$s" "$CG_WARM" > /dev/null; done   # first-touch, token cache, upstream connections
  callgrind_control -z "$CGPID" > "$CG/control.log" 2>&1 || pb_die "callgrind_control -z failed (see $CG/control.log)"
  for s in plain mcp; do
    pb_log "callgrind: /$s $(load "$s" "$CG_REQUESTS")"
    callgrind_control -d "$s" "$CGPID" >> "$CG/control.log" 2>&1 || pb_die "callgrind_control -d failed (see $CG/control.log)"
  done
  # Each dump holds the instructions since the previous one (-z zeroed before the first).
  ir() { # DESC -> total Ir of the dump with that trigger description
    local f; f=$(grep -l "^desc: Trigger: dump $1\$" "$CG"/callgrind.out* 2>/dev/null | head -1)
    [ -n "$f" ] || pb_die "callgrind: no dump for '$1' in $CG"
    awk '/^(summary|totals):/{print $2; exit}' "$f"
  }
  IR_PLAIN=$(ir plain); IR_MCP=$(ir mcp)
  cp "$CG"/callgrind.out* "$OUT/raw/" 2>/dev/null || true
  {
    echo; echo "## Instructions per request (callgrind, $CG_REQUESTS requests per target after $CG_WARM warm-up, $CG_CONC connections, workers = 1)"; echo
    node -e '
      const [n, p, m] = process.argv.slice(1).map(Number);
      console.log("| target | instructions (Ir) | per request |\n|---|---:|---:|");
      console.log(`| plain | ${p} | ${(p / n).toFixed(0)} |`);
      console.log(`| mcp | ${m} | ${(m / n).toFixed(0)} |`);
      console.log(`| **mcp − plain** (the inspection) | ${m - p} | **${((m - p) / n).toFixed(0)}** (${(100 * (m - p) / p).toFixed(1)} % of plain) |`);
    ' "$CG_REQUESTS" "$IR_PLAIN" "$IR_MCP"
    echo; echo "(dumps in raw/callgrind.out.1 (plain) and .2 (mcp): \`callgrind_annotate --inclusive=yes raw/callgrind.out.2\` shows where the instructions go)"
  } >> "$OUT/summary.md"
fi

cat "$OUT/summary.md"
pb_log "results in $OUT"
exit "$status"
