#!/usr/bin/env bash
# Interleaved A/B of two gateway binaries (the restructure issue's "within 3% of the old binary"):
# A = old, B = new, each run with bench/run.sh's gateway-plain and gateway-jwt configurations in
# front of the same upstream (peerbench's nginx `return 200`), the same wrk settings as run.sh
# (wrk -t1 -c64 -s bench/wrk.lua, server side on CPU 0, wrk on CPU 1). Targets:
#   plain        no-auth route (policies/public.ini), GET /api/v4/profiles
#   rs256-1tok   bearer RS256, one token (verification cache hits), GET /api/v4/profiles
# Rounds run A,B then B,A then A,B ... per target, so that neither binary always goes first. Printed:
# per-round req/s, the median of the same-round ratios B/A per target (goal >= 0.97), gateway CPU
# µs/req of both and its same-round difference B - A.
#
#   git worktree add /tmp/old <old commit> && make -C /tmp/old     # (or any other build of the old code)
#   A=/tmp/old/build/gateway B=build/gateway bash bench/ab.sh      # 6 rounds x 10 s x 4 runs, ~5 min
#   QUICK=1 A=... B=... bash bench/ab.sh                           # smoke run: 1 round of 3 s
#
# Knobs (env): A (required) B=<repo>/build/gateway ROUNDS=6 DURATION=10 WARMUP=2 CONNS=64 THREADS=1
#   MIN_RATIO=0.97 PIN=1 GW_WORKERS=0 PB_UPSTREAM_PORT=18381 PORT_BASE=18390 (A: +0 jwt, +1 plain;
#   B: +2 jwt, +3 plain) PB_RUN=/tmp/ab-bench-run OUT=bench/results/ab-<stamp> PEERBENCH=...
# Its own ports and run dir (a bench/run.sh or peerbench run on 18081-18084 is not disturbed; do not
# run both at once). Everything started here is stopped at exit by recorded PID.
# Results: $OUT/summary.md (printed), runs.jsonl, raw/, conf/, env.txt.
set -euo pipefail
# shellcheck source=bench/gwbench.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/gwbench.sh"
gb_init ab /tmp/ab-bench-run 18381

if [ "${QUICK:-0}" = 1 ]; then : "${ROUNDS:=1}" "${DURATION:=3}" "${WARMUP:=1}"; fi
ROUNDS=${ROUNDS:-6}; DURATION=${DURATION:-10}; WARMUP=${WARMUP:-2}; CONNS=${CONNS:-64}; THREADS=${THREADS:-1}
MIN_RATIO=${MIN_RATIO:-0.97}; GW_WORKERS=${GW_WORKERS:-0}; PORT_BASE=${PORT_BASE:-18390}
[ -n "${A:-}" ] || pb_die "set A=<old gateway binary> (and B=<new>, default build/gateway)"
B=${B:-$REPO/build/gateway}
gb_ints ROUNDS DURATION WARMUP CONNS THREADS GW_WORKERS PORT_BASE
[ "$ROUNDS" -ge 1 ] && [ "$DURATION" -ge 1 ] && [ "$CONNS" -ge 1 ] && [ "$THREADS" -ge 1 ] || pb_die "ROUNDS, DURATION, CONNS, THREADS must be >= 1"
gb_need nginx wrk node curl taskset
declare -A BIN PORT_JWT PORT_PLAIN
BIN[A]=$(gb_copy_bin "$A" A); BIN[B]=$(gb_copy_bin "$B" B)
PORT_JWT[A]=$PORT_BASE; PORT_PLAIN[A]=$((PORT_BASE + 1)); PORT_JWT[B]=$((PORT_BASE + 2)); PORT_PLAIN[B]=$((PORT_BASE + 3))
gb_ports_free "$PB_UPSTREAM_PORT" "${PORT_JWT[A]}" "${PORT_PLAIN[A]}" "${PORT_JWT[B]}" "${PORT_PLAIN[B]}"
sha() { sha256sum "$1" | cut -c1-16; }
[ "$(sha "${BIN[A]}")" != "$(sha "${BIN[B]}")" ] || pb_log "note: A and B are the same binary (an A/A run: expect ratios of 1 +- noise)"
: > "$OUT/runs.jsonl"
gb_env "A: $A (sha256 $(sha "${BIN[A]}"))" "B: $B (sha256 $(sha "${BIN[B]}"))" \
  "rounds=$ROUNDS x ${DURATION}s, warm-up ${WARMUP}s, workers=$GW_WORKERS, path $PB_PATH"

TOKENS=$RUN/tokens/ab-rs256-1.txt
gb_mint "$TOKENS" "$PB_SCOPE"

# ---- configurations: bench/run.sh's gateway-plain and gateway-jwt (the same files for A and B) -----------------
PUBLIC_POLICY=$REPO/policies/public.ini
cat > "$RUN/conf/ab-jwt.policy.ini" <<'EOF'
; bench/run.sh's gateway-jwt policy (rendered by bench/ab.sh)
[defaults]
unmatched = deny

[* /api/v4/profiles]
scopes = profiles:read

[* /api/v4/profiles/**]
scopes = profiles:read

[* /api/v4/**]
auth = token
EOF
conf() { # PORT jwt|plain
  echo "; rendered by bench/ab.sh (as bench/run.sh's gateway-$2)"
  printf '[server]\nlisten = 127.0.0.1:%s\nworkers = %s\nidle_timeout = 300s\ndrain_timeout = 2s\n' "$1" "$GW_WORKERS"
  if [ "$2" = jwt ]; then gb_conf_issuer "$1"; fi
  printf '\n[upstream:api]\nprefix = /api/v4\nurl = http://127.0.0.1:%s\n\n[policy]\n' "$PB_UPSTREAM_PORT"
  if [ "$2" = jwt ]; then printf 'file = %s\n\n[forward]\nheader.X-Auth-Sub = sub\n' "$RUN/conf/ab-jwt.policy.ini"; else printf 'file = %s\n' "$PUBLIC_POLICY"; fi
  printf '\n[log]\nlevel = warn\naccess = off\n'
}
gb_upstream_start
for s in A B; do
  conf "${PORT_PLAIN[$s]}" plain > "$RUN/conf/ab-$s-plain.ini"
  conf "${PORT_JWT[$s]}" jwt > "$RUN/conf/ab-$s-jwt.ini"
  gb_gw_start "gw-$s-plain" "${BIN[$s]}" "$RUN/conf/ab-$s-plain.ini" "${PORT_PLAIN[$s]}"
  gb_gw_start "gw-$s-jwt" "${BIN[$s]}" "$RUN/conf/ab-$s-jwt.ini" "${PORT_JWT[$s]}"
done
cp "$RUN/conf/ab-jwt.policy.ini" "$OUT/conf/"

# ---- checks: 200 with the token everywhere; the jwt targets refuse a missing token ------------------------------
U=http://127.0.0.1
AUTHH="Authorization: Bearer $(head -1 "$TOKENS")"
for s in A B; do
  gb_expect "$s plain GET $PB_PATH" 200 -H "$AUTHH" "$U:${PORT_PLAIN[$s]}$PB_PATH"
  gb_expect "$s jwt GET $PB_PATH with the token" 200 -H "$AUTHH" "$U:${PORT_JWT[$s]}$PB_PATH"
  gb_expect "$s jwt GET $PB_PATH without a token" 401 "$U:${PORT_JWT[$s]}$PB_PATH"
done
pb_log "checks ok: plain and jwt 200 with the token, jwt 401 without, on A and B"

# ---- interleaved rounds ------------------------------------------------------------------------------------------
run() { # ROUND SIDE TARGET SECONDS
  local port name
  if [ "$3" = plain ]; then port=${PORT_PLAIN[$2]} name=gw-$2-plain; else port=${PORT_JWT[$2]} name=gw-$2-jwt; fi
  gb_wrk "{\"round\":$1,\"target\":\"$3\",\"side\":\"$2\"}" "$(pb_pid "$name")" "$U:$port" \
    "$BENCH_DIR/wrk.lua" "$4" "$OUT/raw/r$1-$3-$2.txt" -- "$TOKENS" "$PB_PATH" 0 "$THREADS"
}
TARGETS=(plain rs256-1tok)
if [ "$WARMUP" -gt 0 ]; then
  pb_log "warm-up ${WARMUP}s per binary and target ..."
  for t in "${TARGETS[@]}"; do for s in A B; do run 0 "$s" "$t" "$WARMUP" > /dev/null; done; done
fi
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then order=(A B); else order=(B A); fi
  for t in "${TARGETS[@]}"; do
    for s in "${order[@]}"; do
      line=$(run "$r" "$s" "$t" "$DURATION"); echo "$line" >> "$OUT/runs.jsonl"; gb_show "$line"
    done
  done
done

status=0
{
  echo "# A/B: B ÷ A ($STAMP)"; echo; echo '```'; cat "$OUT/env.txt"; echo '```'; echo
  node "$BENCH_DIR/pairs.js" "$OUT/runs.jsonl" B A "$MIN_RATIO" "B (new) vs A (old), same run, same upstream" | grep -v '^PAIRS_JSON' || status=1
} > "$OUT/summary.md"
cat "$OUT/summary.md"
pb_log "results in $OUT"
exit "$status"
