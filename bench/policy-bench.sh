#!/usr/bin/env bash
# Policy benchmark (issue 4 "Benchmark"):
#  1. decision cost: bench/policy_micro.c times policy_match() on generated
#     tables of 10, 100, 1,000, 4,096 (the shipped GW_POLICY_MAX_ROUTES) and 10,000 routes,
#     and pathnorm() per path. Claim under test: lookup time stays flat as the
#     route count grows.
#  2. what-if (WHATIF=1): the same program built against a private copy of
#     gateway/ in /tmp whose GW_POLICY_MAX_ROUTES is raised to 16384, so the
#     10,000-route table loads and its lookup cost can be seen. The shipped
#     limit is not changed; this is labelled as such in the output.
#  3. end to end (E2E=1): wrk through build/gateway in front of peerbench's
#     nginx upstream, interleaved rounds of three gateways:
#       public   policies/public.ini ([* /**] auth = none): no token work, trivial table
#       token    [* /**] auth = token: JWT verification (cached), trivial table
#       profile  policies/profile-api.ini (the full table) + JWT verification
#     profile vs token isolates what the full table costs; token vs public
#     what the token costs. Every request carries the same bearer token.
#
#   bash bench/policy-bench.sh                 # all three, ~2 min
#   E2E=0 bash bench/policy-bench.sh           # micro-benchmark only, ~15 s
# Knobs (env): MICRO_MS=60 (ms per cell) WHATIF=1 E2E=1 ROUNDS=3 DURATION=5 CONNS=64 WARMUP=1
#   PIN=1 (upstream + gateway on CPU 0, wrk on CPU 1) GW_BIN=build/gateway
#   PB_UPSTREAM_PORT=18181 GW_PUBLIC_PORT=18191 GW_TOKEN_PORT=18192 GW_PROFILE_PORT=18193
#   PATHS="/api/v4/profiles /api/v4/profiles/12345/disc" PEERBENCH=../shared/peerbench
#   PB_RUN=/tmp/policy-bench-run
# Uses its own ports (not bench/run.sh's 18081/18090/18091), 127.0.0.1 only; everything it starts
# is stopped at exit by recorded PID, never by name. Exit status 1 when the micro-benchmark could
# not load a table size or found a wrong lookup, or when an end-to-end run had errors.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
cd "$REPO"
MICRO_MS=${MICRO_MS:-60}; WHATIF=${WHATIF:-1}; E2E=${E2E:-1}
status=0

CFLAGS_MICRO=(-O2 -std=c11 -D_GNU_SOURCE)
SRCS=(policy.c pathnorm.c scopes.c cfgini.c cfgval.c errs.c)

echo "== 1. policy_match / pathnorm micro-benchmark (shipped gateway/ sources) =="
gcc "${CFLAGS_MICRO[@]}" -I gateway/lib bench/policy_micro.c "${SRCS[@]/#/gateway/lib/}" -linih -o /tmp/policy_micro
echo "host: $(uname -srm), $(nproc) CPUs, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
/tmp/policy_micro "$MICRO_MS" || status=1

if [ "$WHATIF" = 1 ]; then
  echo
  echo "== 2. what-if: same program, private copy of gateway/ with GW_POLICY_MAX_ROUTES raised to 16384 =="
  W=$(mktemp -d /tmp/policy-whatif-XXXXXX)
  cp gateway/lib/*.h "${SRCS[@]/#/gateway/lib/}" "$W/"
  sed -i 's/^#define GW_POLICY_MAX_ROUTES [0-9]*/#define GW_POLICY_MAX_ROUTES 16384/' "$W/policy.h"
  grep -q '^#define GW_POLICY_MAX_ROUTES 16384' "$W/policy.h" || { echo "what-if: cannot raise the limit" >&2; exit 2; }
  gcc "${CFLAGS_MICRO[@]}" -I "$W" bench/policy_micro.c "${SRCS[@]/#/$W/}" -linih -o /tmp/policy_micro_whatif
  rm -rf "$W"
  /tmp/policy_micro_whatif "$MICRO_MS" || true  # informational: not the shipped limit
fi

[ "$E2E" = 1 ] || exit "$status"

# ---------------------------------------------------------------------------------------------
echo
echo "== 3. end to end: wrk through build/gateway, full Profile API policy vs public / token-only =="
PEERBENCH=${PEERBENCH:-$REPO/../shared/peerbench}
[ -f "$PEERBENCH/lib.sh" ] || { echo "policy-bench: peerbench not found at $PEERBENCH" >&2; exit 1; }
PEERBENCH=$(cd "$PEERBENCH" && pwd)
export PB_RUN=${PB_RUN:-/tmp/policy-bench-run}
export PB_UPSTREAM_PORT=${PB_UPSTREAM_PORT:-18181}
# shellcheck source=/dev/null
. "$PEERBENCH/lib.sh"
pb_log() { printf '[policy-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-5}; CONNS=${CONNS:-64}; WARMUP=${WARMUP:-1}
GW_BIN=${GW_BIN:-$REPO/build/gateway}
GW_PUBLIC_PORT=${GW_PUBLIC_PORT:-18191}; GW_TOKEN_PORT=${GW_TOKEN_PORT:-18192}; GW_PROFILE_PORT=${GW_PROFILE_PORT:-18193}
PATHS=${PATHS:-"/api/v4/profiles /api/v4/profiles/12345/disc"}
for t in nginx wrk node openssl taskset; do command -v "$t" >/dev/null || pb_die "missing $t"; done
[ -x "$GW_BIN" ] || pb_die "no gateway binary at $GW_BIN (run make)"
for v in ROUNDS DURATION CONNS WARMUP; do [[ "${!v}" =~ ^[0-9]+$ ]] || pb_die "$v must be an integer"; done

pb_dirs
RUN=$PB_RUN
mkdir -p "$RUN/bin"
STARTED=()
cleanup() { local i; for ((i=${#STARTED[@]}-1; i>=0; i--)); do pb_stop "${STARTED[$i]}" || true; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM
for p in "$PB_UPSTREAM_PORT" "$GW_PUBLIC_PORT" "$GW_TOKEN_PORT" "$GW_PROFILE_PORT"; do
  pb_port_free "$p" || pb_die "port $p busy (leftover run? PB_RUN=$RUN $PEERBENCH/stop.sh)"
done

STAMP=$(date +%Y%m%d-%H%M%S)
GW=$RUN/bin/gateway-$STAMP
cp "$GW_BIN" "$GW"   # private copy: a concurrent `make` cannot swap it mid-run

# keys and one token (profiles:read tags:manage, RS256), valid for PB_TOKEN_TTL
[ -f "$PB_KEYS/jwks.json" ] || "$PB_HOME/keys.sh" "$PB_KEYS" > "$RUN/logs/keys.log" 2>&1
TOKENS=$RUN/tokens/rs256-1.txt
node "$PB_HOME/mint.js" --alg RS256 --key "$PB_KEYS/rsa_private.pem" --kid "$PB_RSA_KID" --iss "$PB_ISS" \
  --aud "$PB_AUD" --scope "$PB_SCOPE" --sub "$PB_SUB" --exp "$PB_TOKEN_TTL" --count 1 --out "$TOKENS" >/dev/null
TOKEN=$(head -1 "$TOKENS")

cat > "$RUN/conf/token-only.policy.ini" <<'EOF'
; any valid token, every path (rendered by bench/policy-bench.sh)
[* /**]
auth = token
EOF

gw_conf() { # NAME PORT POLICY -> writes $RUN/conf/NAME.ini
  cat > "$RUN/conf/$1.ini" <<EOF
; rendered by bench/policy-bench.sh
[server]
listen = 127.0.0.1:$2
workers = 1
public_url = http://127.0.0.1:$2
idle_timeout = 300s
drain_timeout = 2s

[resource]
identifier = $PB_AUD
authorization_servers = $PB_ISS

[issuer:peerbench]
iss = $PB_ISS
jwks_file = $PB_KEYS/jwks.json
algorithms = RS256 ES256
audience = $PB_AUD

[upstream:api]
prefix = /api/v4
url = http://127.0.0.1:$PB_UPSTREAM_PORT

[upstream:mcp]
prefix = /mcp
url = http://127.0.0.1:$PB_UPSTREAM_PORT

[policy]
file = $3

[log]
level = warn
access = off
EOF
}
gw_conf public "$GW_PUBLIC_PORT" "$REPO/policies/public.ini"
gw_conf token "$GW_TOKEN_PORT" "$RUN/conf/token-only.policy.ini"
gw_conf profile "$GW_PROFILE_PORT" "$REPO/policies/profile-api.ini"

declare -A PORT=([public]=$GW_PUBLIC_PORT [token]=$GW_TOKEN_PORT [profile]=$GW_PROFILE_PORT)
declare -A PID=()
TARGETS=(public token profile)

gw_start() { # NAME
  local name=$1 conf=$RUN/conf/$1.ini pid
  "$GW" -t -c "$conf" > "$RUN/logs/gw-$name.check" 2>&1 || { cat "$RUN/logs/gw-$name.check" >&2; pb_die "gw-$name: -t rejected $conf"; }
  $(pb_pin server) "$GW" -c "$conf" > "$RUN/logs/gw-$name.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid $GW" > "$RUN/pids/gw-$name.pid"; STARTED+=("gw-$name")
  pb_wait_port "${PORT[$name]}" 10 || { tail -20 "$RUN/logs/gw-$name.log" >&2; pb_die "gw-$name did not listen"; }
  PID[$name]=$pid
}

"$PB_HOME/upstream/start.sh" >/dev/null; STARTED+=(upstream)
for t in "${TARGETS[@]}"; do gw_start "$t"; done

# functional check: every target answers 200 on every path with the token, and the profile
# gateway really enforces its policy (no token: 401; a route the token lacks the scope for: 403)
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
for t in "${TARGETS[@]}"; do
  for p in $PATHS; do
    c=$(code -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:${PORT[$t]}$p")
    [ "$c" = 200 ] || pb_die "check: $t GET $p answered $c, not 200"
  done
done
c=$(code "http://127.0.0.1:$GW_PROFILE_PORT/api/v4/profiles"); [ "$c" = 401 ] || pb_die "check: profile without token answered $c, not 401"
c=$(code -X DELETE -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$GW_PROFILE_PORT/api/v4/profiles/1")
[ "$c" = 403 ] || pb_die "check: profile DELETE without profiles:write answered $c, not 403"
c=$(code "http://127.0.0.1:$GW_TOKEN_PORT/api/v4/profiles"); [ "$c" = 401 ] || pb_die "check: token-only without token answered $c, not 401"
pb_log "checks ok: 200 with the token on every target; profile 401 without, 403 on DELETE"

# one wrk run -> "rps p50_us p99_us errors gw_cpu_ns_per_req"
run_wrk() { # TARGET PATH SECONDS
  local t=$1 p=$2 d=$3 out c0 c1 j
  c0=$(pb_cpu_ns "${PID[$t]}")
  out=$($(pb_pin client) wrk -t1 -c"$CONNS" -d"${d}s" --latency -s "$BENCH_DIR/wrk.lua" \
    "http://127.0.0.1:${PORT[$t]}$p" -- "$TOKENS" "$p" 0 1 2>&1) || { echo "$out" >&2; pb_die "wrk failed on $t"; }
  c1=$(pb_cpu_ns "${PID[$t]}")
  j=$(printf '%s\n' "$out" | sed -n 's/^PEERBENCH_JSON //p')
  [ -n "$j" ] || { echo "$out" >&2; pb_die "no PEERBENCH_JSON from wrk on $t"; }
  node -e '
    const j = JSON.parse(process.argv[1]); const cpu = Number(process.argv[2]);
    const errs = j.err_connect + j.err_read + j.err_write + j.err_status + j.err_timeout;
    console.log([j.rps.toFixed(0), j.lat_p50_us, j.lat_p99_us, errs, j.requests ? (cpu / j.requests).toFixed(0) : 0].join(" "));
  ' "$j" "$((c1 - c0))"
}

pb_log "warm-up ${WARMUP}s per target and path; then $ROUNDS interleaved rounds of ${DURATION}s, wrk -t1 -c$CONNS"
for t in "${TARGETS[@]}"; do for p in $PATHS; do [ "$WARMUP" -gt 0 ] && run_wrk "$t" "$p" "$WARMUP" >/dev/null; done; done
RES=$RUN/results-$STAMP.txt
: > "$RES"
for r in $(seq 1 "$ROUNDS"); do
  for p in $PATHS; do
    for t in "${TARGETS[@]}"; do
      line=$(run_wrk "$t" "$p" "$DURATION")
      echo "$r $t $p $line" >> "$RES"
      pb_log "round $r $t $p: $line (rps p50_us p99_us errors gw_cpu_ns/req)"
    done
  done
done

echo
echo "end to end: medians over $ROUNDS rounds; wrk -t1 -c$CONNS -d${DURATION}s; gateway workers=1; PIN=$PIN"
node -e '
  const fs = require("fs");
  const rows = fs.readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => l.split(" "));
  const med = (a) => { a = a.slice().sort((x, y) => x - y); return a[Math.floor(a.length / 2)]; };
  const keys = [...new Set(rows.map((r) => r[2] + "|" + r[1]))];
  console.log("| path | gateway | req/s | p50 us | p99 us | gw CPU ns/req | errors | req/s vs public |");
  console.log("|---|---|---:|---:|---:|---:|---:|---:|");
  let bad = 0;
  const base = {};
  for (const k of keys) {
    const [p, t] = k.split("|");
    const rs = rows.filter((r) => r[1] === t && r[2] === p);
    // r: round target path rps p50_us p99_us errors gw_cpu_ns_per_req
    const rps = med(rs.map((r) => +r[3])), p50 = med(rs.map((r) => +r[4])), p99 = med(rs.map((r) => +r[5]));
    const errs = rs.reduce((s, r) => s + +r[6], 0), cpu = med(rs.map((r) => +r[7]));
    if (t === "public") base[p] = rps;
    bad += errs;
    const rel = base[p] ? (100 * rps / base[p]).toFixed(1) + "%" : "";
    console.log(`| ${p} | ${t} | ${rps} | ${p50} | ${p99} | ${cpu} | ${errs} | ${rel} |`);
  }
  process.exit(bad ? 1 : 0);
' "$RES" || status=1
echo "(raw per-run lines: $RES)"
exit "$status"
