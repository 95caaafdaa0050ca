#!/usr/bin/env bash
# Revocation and shared-rate-limit cost (issue 15's benchmark), cached RS256 token, wrk pinned like
# bench/ab.sh (server side on CPU 0, wrk on CPU 1), interleaved rounds.
#
# Part 1, revocations: two gateway processes of the same binary and configuration in the same run,
#   "loaded" holding 100,000 revocations (loaded through the admin API over keep-alive connections;
#   a mix of sub+client_id, jti, sub and client_id entries, none matching the bench token) and
#   "empty" holding none. Printed: the median of the same-round ratios loaded ÷ empty (goal ≥ 0.98),
#   gateway CPU µs/req of both, and the RSS the entries cost.
# Part 2, shared rate limit ([cluster] redis): one gateway with `[cluster] redis` (a redis-server on
#   the server CPU, like the upstream) serving two routes: "rate-redis" with `rate = 1000000/s`
#   (never refuses; every request is one counter round trip to Redis) and "norate" without a rate;
#   and, as a reference, "rate-local": the same policy in a gateway without [cluster] (the
#   in-process bucket). Printed: req/s and p99 of each and the ratios to norate. Skipped, with the
#   reason, when the gateway refuses the [cluster] section (a binary without the feature).
#
#   bash bench/revocations-bench.sh                 # 6 rounds x 10 s per side and part, ~7 min
#   QUICK=1 bash bench/revocations-bench.sh         # smoke run: 1 round of 3 s
#   PARTS=1 bash bench/revocations-bench.sh         # part 1 only (PARTS=2: part 2 only)
#
# Knobs (env): ROUNDS=6 DURATION=10 WARMUP=2 CONNS=64 THREADS=1 NREV=100000 LOAD_CONC=16 PARTS="1 2"
#   MIN_RATIO=0.98 PIN=1 GW_BIN=<repo>/build/gateway GW_WORKERS=0 REDIS_SERVER=/usr/bin/redis-server
#   PB_UPSTREAM_PORT=18481 PORT_BASE=18490 (loaded +0/+1 admin, empty +2/+3, cluster +4/+5,
#   rate-local +6/+7, redis +8) PB_RUN=/tmp/revocations-bench-run OUT=bench/results/revocations-<stamp>
# Its own ports and run dir; do not run it together with another bench (they share the two CPUs).
# Everything started here is stopped at exit by recorded PID. Results: $OUT/summary.md (printed),
# runs.jsonl, raw/, conf/, env.txt.
set -euo pipefail
# shellcheck source=bench/gwbench.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/gwbench.sh"
gb_init revocations /tmp/revocations-bench-run 18481

if [ "${QUICK:-0}" = 1 ]; then : "${ROUNDS:=1}" "${DURATION:=3}" "${WARMUP:=1}"; fi
ROUNDS=${ROUNDS:-6}; DURATION=${DURATION:-10}; WARMUP=${WARMUP:-2}; CONNS=${CONNS:-64}; THREADS=${THREADS:-1}
NREV=${NREV:-100000}; LOAD_CONC=${LOAD_CONC:-16}; MIN_RATIO=${MIN_RATIO:-0.98}; PARTS=${PARTS:-1 2}
GW_BIN=${GW_BIN:-$REPO/build/gateway}; GW_WORKERS=${GW_WORKERS:-0}; PORT_BASE=${PORT_BASE:-18490}
REDIS_SERVER=${REDIS_SERVER:-/usr/bin/redis-server}
gb_ints ROUNDS DURATION WARMUP CONNS THREADS NREV LOAD_CONC GW_WORKERS PORT_BASE
[ "$ROUNDS" -ge 1 ] && [ "$DURATION" -ge 1 ] && [ "$CONNS" -ge 1 ] && [ "$THREADS" -ge 1 ] && [ "$LOAD_CONC" -ge 1 ] \
  || pb_die "ROUNDS, DURATION, CONNS, THREADS, LOAD_CONC must be >= 1"
part() { [[ " $PARTS " == *" $1 "* ]]; }
gb_need nginx wrk node curl taskset
P_LOADED=$PORT_BASE; A_LOADED=$((PORT_BASE + 1)); P_EMPTY=$((PORT_BASE + 2)); A_EMPTY=$((PORT_BASE + 3))
P_CLUSTER=$((PORT_BASE + 4)); A_CLUSTER=$((PORT_BASE + 5)); P_LOCAL=$((PORT_BASE + 6)); A_LOCAL=$((PORT_BASE + 7))
REDIS_PORT=$((PORT_BASE + 8))
gb_ports_free "$PB_UPSTREAM_PORT" "$P_LOADED" "$A_LOADED" "$P_EMPTY" "$A_EMPTY" "$P_CLUSTER" "$A_CLUSTER" "$P_LOCAL" "$A_LOCAL" "$REDIS_PORT"
GW=$(gb_copy_bin "$GW_BIN" rev)
: > "$OUT/runs.jsonl"
gb_env "gateway: $GW_BIN (sha256 $(sha256sum "$GW" | cut -c1-16), repo $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)), workers=$GW_WORKERS" \
  "rounds=$ROUNDS x ${DURATION}s, warm-up ${WARMUP}s; parts: $PARTS; $NREV revocations loaded over $LOAD_CONC keep-alive connections"

# ---- tokens: the bench token (matches no entry) and a canary matching entry 0 -------------------------------
[ -f "$PB_KEYS/jwks.json" ] || "$PB_HOME/keys.sh" "$PB_KEYS" > "$RUN/logs/keys.log" 2>&1
mint() { # OUTFILE CLAIMS_JSON SUB
  node "$PB_HOME/mint.js" --alg RS256 --key "$PB_KEYS/rsa_private.pem" --kid "$PB_RSA_KID" --iss "$PB_ISS" \
    --aud "$PB_AUD" --scope "$PB_SCOPE" --sub "$3" --exp "$PB_TOKEN_TTL" --claims "$2" --count 1 --out "$1" >/dev/null
}
TOK=$RUN/tokens/rev-bench.txt; CANARY=$RUN/tokens/rev-canary.txt
mint "$TOK" '{"client_id":"bench-app"}' "$PB_SUB"
mint "$CANARY" '{"client_id":"rv-app-0"}' rv-sub-0
ADMIN_TOKEN=$RUN/conf/admin.token
[ -f "$ADMIN_TOKEN" ] || { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; echo; } > "$ADMIN_TOKEN"
chmod 600 "$ADMIN_TOKEN"

# ---- configurations --------------------------------------------------------------------------------------------
policy() { # RATE ("" = none on /api/v4/profiles); /api/v4/tags never has one
  echo "; rendered by bench/revocations-bench.sh"
  printf '[defaults]\nunmatched = deny\n\n[GET /api/v4/profiles]\nscopes = profiles:read\n'
  [ -z "$1" ] || printf 'rate = %s\n' "$1"
  printf '\n[GET /api/v4/tags]\nscopes = profiles:read\n'
}
conf() { # PORT ADMIN_PORT POLICY_FILE [CLUSTER_URL]
  echo "; rendered by bench/revocations-bench.sh"
  printf '[server]\nlisten = 127.0.0.1:%s\nworkers = %s\nidle_timeout = 300s\ndrain_timeout = 2s\n' "$1" "$GW_WORKERS"
  gb_conf_issuer "$1"
  printf '\n[upstream:api]\nprefix = /api/v4\nurl = http://127.0.0.1:%s\n\n[policy]\nfile = %s\n' "$PB_UPSTREAM_PORT" "$3"
  printf '\n[admin]\nlisten = 127.0.0.1:%s\n\n[revocation]\nadmin_token_file = %s\nretain = 2h\n' "$2" "$ADMIN_TOKEN"
  [ -z "${4:-}" ] || printf '\n[cluster]\nredis = %s\n' "$4"
  printf '\n[forward]\nheader.X-Auth-Sub = sub\n\n[log]\nlevel = warn\naccess = off\n'
}
policy "" > "$RUN/conf/rev-plain.policy.ini"
policy 1000000/s > "$RUN/conf/rev-rate.policy.ini"
cp "$RUN/conf/rev-plain.policy.ini" "$RUN/conf/rev-rate.policy.ini" "$OUT/conf/"

U=http://127.0.0.1
AUTHH="Authorization: Bearer $(head -1 "$TOK")"
CANARYH="Authorization: Bearer $(head -1 "$CANARY")"
ready() { # ADMIN_PORT NAME: /readyz 200 within 20 s
  local i
  for i in $(seq 1 200); do [ "$(gb_status "$U:$1/readyz")" = 200 ] && return 0; sleep 0.1; done
  pb_die "$2: /readyz not 200 within 20 s: $(curl -s -m 5 "$U:$1/readyz" || true)"
}
run() { # ROUND PART SIDE PORT PATH NAME SECONDS
  gb_wrk "{\"round\":$1,\"target\":\"$2\",\"side\":\"$3\"}" "$(pb_pid "$6")" "$U:$4" \
    "$BENCH_DIR/wrk.lua" "$7" "$OUT/raw/r$1-$3.txt" -- "$TOK" "$5" 0 "$THREADS"
}
rounds() { # PART SIDE:PORT:PATH:NAME... ; warm-up then ROUNDS rounds, the side order rotating per round
  local p=$1 r k n line; shift
  local sides=("$@")
  n=${#sides[@]}
  if [ "$WARMUP" -gt 0 ]; then
    pb_log "$p: warm-up ${WARMUP}s per side ..."
    for s in "${sides[@]}"; do IFS=: read -r side port path name <<< "$s"; run 0 "$p" "$side" "$port" "$path" "$name" "$WARMUP" > /dev/null; done
  fi
  for r in $(seq 1 "$ROUNDS"); do
    for k in $(seq 0 $((n - 1))); do
      IFS=: read -r side port path name <<< "${sides[$(((k + r - 1) % n))]}"
      line=$(run "$r" "$p" "$side" "$port" "$path" "$name" "$DURATION"); echo "$line" >> "$OUT/runs.jsonl"; gb_show "$line"
    done
  done
}

gb_upstream_start
status=0
{ echo "# Revocations and shared rate limits ($STAMP)"; echo; echo '```'; cat "$OUT/env.txt"; echo '```'; echo; } > "$OUT/summary.md"

# ---- part 1: 100k revocations vs none ----------------------------------------------------------------------------
if part 1; then
  conf "$P_LOADED" "$A_LOADED" "$RUN/conf/rev-plain.policy.ini" > "$RUN/conf/rev-loaded.ini"
  conf "$P_EMPTY" "$A_EMPTY" "$RUN/conf/rev-plain.policy.ini" > "$RUN/conf/rev-empty.ini"
  gb_gw_start gw-loaded "$GW" "$RUN/conf/rev-loaded.ini" "$P_LOADED"
  gb_gw_start gw-empty "$GW" "$RUN/conf/rev-empty.ini" "$P_EMPTY"
  ready "$A_LOADED" gw-loaded; ready "$A_EMPTY" gw-empty
  rss0=$(pb_rss_kb "$(pb_pid gw-loaded)")
  pb_log "loading $NREV revocations into gw-loaded ..."
  LOADED=$($(pb_pin client) node "$BENCH_DIR/revocations-load.js" load "$A_LOADED" "$ADMIN_TOKEN" "$NREV" "$LOAD_CONC") \
    || pb_die "loading the revocations failed"
  pb_log "loaded: $LOADED"
  n=$(node "$BENCH_DIR/revocations-load.js" count "$A_LOADED" "$ADMIN_TOKEN")
  [ "$n" = "$NREV" ] || pb_die "check failed: gw-loaded lists $n revocations, not $NREV"
  n0=$(node "$BENCH_DIR/revocations-load.js" count "$A_EMPTY" "$ADMIN_TOKEN")
  [ "$n0" = 0 ] || pb_die "check failed: gw-empty lists $n0 revocations, not 0"
  rss1=$(pb_rss_kb "$(pb_pid gw-loaded)")
  for s in loaded:$P_LOADED empty:$P_EMPTY; do
    gb_expect "${s%%:*} GET $PB_PATH with the bench token" 200 -H "$AUTHH" "$U:${s#*:}$PB_PATH"
  done
  gb_expect "loaded GET $PB_PATH with the canary (sub rv-sub-0 + client_id rv-app-0 is revoked)" 401 -H "$CANARYH" "$U:$P_LOADED$PB_PATH"
  gb_expect "empty GET $PB_PATH with the canary" 200 -H "$CANARYH" "$U:$P_EMPTY$PB_PATH"
  pb_log "checks ok: $NREV listed at gw-loaded, 0 at gw-empty; the bench token 200 at both; the canary 401 at gw-loaded only"
  rounds revocations "loaded:$P_LOADED:$PB_PATH:gw-loaded" "empty:$P_EMPTY:$PB_PATH:gw-empty"
  {
    node "$BENCH_DIR/pairs.js" "$OUT/runs.jsonl" loaded empty "$MIN_RATIO" \
      "$NREV revocations loaded vs none, two processes of the same binary, same run, cached RS256 token" | grep -v '^PAIRS_JSON' || status=1
    echo
    echo "Loading: $LOADED (admin API, $LOAD_CONC keep-alive connections). gw-loaded RSS $((rss0 / 1024)) MiB before, $((rss1 / 1024)) MiB after: $(( (rss1 - rss0) * 1024 / NREV )) bytes per entry."
    echo
  } >> "$OUT/summary.md"
  pb_stop gw-loaded; pb_stop gw-empty
fi

# ---- part 2: [cluster] redis rate limit vs none -------------------------------------------------------------------
if part 2; then
  conf "$P_CLUSTER" "$A_CLUSTER" "$RUN/conf/rev-rate.policy.ini" "redis://127.0.0.1:$REDIS_PORT/0" > "$RUN/conf/rev-cluster.ini"
  if ! chk=$("$GW" -t -c "$RUN/conf/rev-cluster.ini" 2>&1); then
    if grep -q 'unknown section \[cluster\]' <<< "$chk"; then
      msg="part 2 skipped: this gateway refuses the [cluster] section (built without the feature): $(head -1 <<< "$chk")"
      pb_log "$msg"; { echo "## [cluster] redis rate limit"; echo; echo "$msg"; } >> "$OUT/summary.md"
      PARTS=${PARTS/2/}
    else
      printf '%s\n' "$chk" >&2; pb_die "gateway -t rejected $RUN/conf/rev-cluster.ini"
    fi
  fi
fi
if part 2; then
  [ -x "$REDIS_SERVER" ] || pb_die "no redis-server at $REDIS_SERVER (apt-get install -y redis-server)"
  gb_need redis-cli
  mkdir -p "$RUN/redis"
  # Pinned like the upstream: Redis on the server CPU is part of what the gateway's core yields.
  STARTED+=(redis)
  $(pb_pin server) "$REDIS_SERVER" --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --daemonize no \
    --dir "$RUN/redis" --logfile "$RUN/logs/redis.log" < /dev/null &
  echo "$!" > "$RUN/pids/redis.pid"
  for i in $(seq 1 100); do [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
  [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] || pb_die "redis-server did not answer PING on $REDIS_PORT (see $RUN/logs/redis.log)"
  pb_record_pid redis "$(pb_pid redis)"
  rcommands() { redis-cli -p "$REDIS_PORT" info stats | awk -F: '/^total_commands_processed/{print $2}' | tr -d '\r'; }
  pb_log "redis started pid $(pb_pid redis) on 127.0.0.1:$REDIS_PORT"
  conf "$P_LOCAL" "$A_LOCAL" "$RUN/conf/rev-rate.policy.ini" > "$RUN/conf/rev-local.ini"
  gb_gw_start gw-cluster "$GW" "$RUN/conf/rev-cluster.ini" "$P_CLUSTER"
  gb_gw_start gw-local "$GW" "$RUN/conf/rev-local.ini" "$P_LOCAL"
  ready "$A_CLUSTER" gw-cluster; ready "$A_LOCAL" gw-local
  up=$(curl -s -m 5 "$U:$A_CLUSTER/metrics" | awk '$1 == "gateway_redis_up" {print $2}')
  [ "$up" = 1 ] || pb_die "check failed: gateway_redis_up is '${up:-absent}' at gw-cluster, not 1"
  gb_expect "local GET $PB_PATH (rate)" 200 -H "$AUTHH" "$U:$P_LOCAL$PB_PATH"
  gb_expect "cluster GET /api/v4/tags (no rate)" 200 -H "$AUTHH" "$U:$P_CLUSTER/api/v4/tags"
  # Last, right before DBSIZE: a counter of a 1 s window may expire soon after.
  gb_expect "cluster GET $PB_PATH (rate)" 200 -H "$AUTHH" "$U:$P_CLUSTER$PB_PATH"
  keys=$(redis-cli -p "$REDIS_PORT" dbsize)
  [ "${keys:-0}" -gt 0 ] || pb_die "check failed: Redis holds no key after a rate-limited request (is the rate counted there?)"
  pb_log "checks ok: 200 on both routes, gateway_redis_up 1, Redis holds $keys keys"
  rcpu0=$(pb_cpu_ns "$(pb_pid redis)"); rcmd0=$(rcommands)
  rounds ratelimit "norate:$P_CLUSTER:/api/v4/tags:gw-cluster" "rate-redis:$P_CLUSTER:$PB_PATH:gw-cluster" \
    "rate-local:$P_LOCAL:$PB_PATH:gw-local"
  grep '"target":"ratelimit"' "$OUT/runs.jsonl" > "$OUT/runs-ratelimit.jsonl"
  {
    node "$BENCH_DIR/pairs.js" "$OUT/runs-ratelimit.jsonl" rate-redis norate 0 \
      "[cluster] redis + rate = 1000000/s vs no rate (same gateway, Redis on the server CPU)" | grep -v '^PAIRS_JSON' || status=1
    echo
    node "$BENCH_DIR/pairs.js" "$OUT/runs-ratelimit.jsonl" rate-local norate 0 \
      "reference: the same rate in a gateway without [cluster] vs no rate" | grep -v '^PAIRS_JSON' || status=1
    echo
    rcpu=$(( $(pb_cpu_ns "$(pb_pid redis)") - rcpu0 )); rcmd=$(( $(rcommands) - rcmd0 ))
    echo "No goal for these ratios (the \"goal ≥ 0\" column is only pairs.js's format). Redis during the rounds (warm-up included):"
    echo "$rcmd commands, $((rcpu / 1000000)) ms CPU, $(( rcmd > 0 ? rcpu / rcmd : 0 )) ns CPU per command (on the server CPU, not in the gateway's µs/req)."
  } >> "$OUT/summary.md"
fi

cat "$OUT/summary.md"
pb_log "results in $OUT"
exit "$status"
