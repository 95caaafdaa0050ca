#!/usr/bin/env bash
# Gateway benchmark: build/gateway side by side with the upstream alone, nginx and HAProxy (plain
# proxies) and HAProxy 2.6 doing bearer-JWT verification, in ONE interleaved run (rounds x targets).
# Peers, keys, token minting and the memory probe come from ../shared/peerbench (referenced, not copied).
#
#   make bench                      # = bash bench/run.sh after building; ~7 min (AUTH=1, the default), ~5 min with AUTH=0
#   QUICK=1 bash bench/run.sh       # smoke run: 1 round of 3 s, no memory test, short openssl speed
#   AUTH=1 bash bench/run.sh        # + gateway-jwt targets (RS256/ES256 x 1/N tokens) and verify.sh
#   AUTH=1 NTOKENS=300000 bash bench/run.sh   # N-token runs that miss the verification cache
#
# Knobs (env): ROUNDS=3 DURATION=10 CONNS=64 THREADS=1 WARMUP=2 NTOKENS=1000 IDLE_CONNS=5000
#   AUTH=1 QUICK=0 SKIP_MEMORY=0 SKIP_OPENSSL=0 OPENSSL_SECONDS=3 ROUND_OPENSSL_SECONDS=2 PIN=1
#   GW_BIN=<repo>/build/gateway GW_PORT=18090 (gateway-jwt) GW_PLAIN_PORT=18091 (gateway-plain) GW_WORKERS=0
#   PEERBENCH=<repo>/../shared/peerbench PB_RUN=/tmp/gateway-bench-run OUT=bench/results/<stamp>
#   plus peerbench's PB_* (ports, claims, CPUs; see $PEERBENCH/config.env).
# Results: $OUT/summary.md (printed at the end), summary.json, runs.jsonl, memory.jsonl, raw wrk output,
# rendered configs and logs. Everything started here is stopped at exit, by recorded PID only.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
PEERBENCH=${PEERBENCH:-$REPO/../shared/peerbench}
[ -f "$PEERBENCH/lib.sh" ] || { echo "bench: peerbench not found at $PEERBENCH (set PEERBENCH=...)" >&2; exit 1; }
PEERBENCH=$(cd "$PEERBENCH" && pwd)
# Our own runtime dir (pids, logs, rendered configs, keys, tokens), separate from a peerbench run's.
export PB_RUN=${PB_RUN:-/tmp/gateway-bench-run}
# shellcheck source=/dev/null
. "$PEERBENCH/lib.sh"          # sets PB_HOME=$PEERBENCH, sources config.env (PB_* defaults), pb_* helpers
pb_log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
  : "${ROUNDS:=1}" "${DURATION:=3}" "${WARMUP:=1}" "${SKIP_MEMORY:=1}" "${OPENSSL_SECONDS:=1}" "${ROUND_OPENSSL_SECONDS:=1}"
fi
ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-10}; CONNS=${CONNS:-64}; THREADS=${THREADS:-1}
WARMUP=${WARMUP:-2}; NTOKENS=${NTOKENS:-1000}; IDLE_CONNS=${IDLE_CONNS:-5000}
SKIP_MEMORY=${SKIP_MEMORY:-0}; SKIP_OPENSSL=${SKIP_OPENSSL:-0}; OPENSSL_SECONDS=${OPENSSL_SECONDS:-3}
ROUND_OPENSSL_SECONDS=${ROUND_OPENSSL_SECONDS:-2}
AUTH=${AUTH:-1}
GW_BIN=${GW_BIN:-$REPO/build/gateway}
GW_PORT=${GW_PORT:-18090}; GW_PLAIN_PORT=${GW_PLAIN_PORT:-18091}; GW_WORKERS=${GW_WORKERS:-0}
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=${OUT:-$BENCH_DIR/results/$STAMP}
T_START=$(date +%s)

for v in ROUNDS DURATION CONNS THREADS WARMUP NTOKENS IDLE_CONNS OPENSSL_SECONDS ROUND_OPENSSL_SECONDS GW_PORT GW_PLAIN_PORT GW_WORKERS; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || pb_die "$v must be a non-negative integer (got '${!v}')"
done
[ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 100 ] || pb_die "ROUNDS must be 1..100"
[ "$DURATION" -ge 1 ] && [ "$NTOKENS" -ge 2 ] && [ "$CONNS" -ge 1 ] && [ "$THREADS" -ge 1 ] || pb_die "DURATION, CONNS, THREADS must be >= 1 and NTOKENS >= 2"
for t in nginx haproxy wrk node openssl curl taskset sha256sum; do command -v "$t" >/dev/null || pb_die "missing $t (make deps / apt-get install -y nginx haproxy wrk)"; done
[ -x "$GW_BIN" ] || pb_die "no gateway binary at $GW_BIN (run make)"

# 5000 idle connections (plus wrk's) need file descriptors: raise the soft limit as far as the hard one allows.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
if [ "$NOFILE" != unlimited ] && [ "$NOFILE" -lt $((IDLE_CONNS + 1000)) ]; then
  pb_log "warning: ulimit -n is $NOFILE (hard limit), IDLE_CONNS=$IDLE_CONNS may not fit"
fi

pb_dirs
RUN=$PB_RUN
mkdir -p "$RUN/bin" "$OUT/raw" "$OUT/conf"
: > "$OUT/runs.jsonl"

# ---- cleanup: stop only what this run started, by recorded PID ----------------------------------
STARTED=()
cleanup() {
  local i
  for ((i=${#STARTED[@]}-1; i>=0; i--)); do pb_stop "${STARTED[$i]}" || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORTS=("$PB_UPSTREAM_PORT" "$PB_NGINX_PROXY_PORT" "$PB_HAPROXY_PORT" "$PB_HAPROXY_PLAIN_PORT" "$GW_PLAIN_PORT")
if [ "$AUTH" = 1 ]; then PORTS+=("$GW_PORT"); fi
for p in "${PORTS[@]}"; do
  pb_port_free "$p" || pb_die "port $p busy (leftover run? PB_RUN=$RUN $PEERBENCH/stop.sh stops what is recorded in $RUN/pids)"
done

# ---- the gateway binary: a private copy, so that a concurrent `make` cannot swap it mid-run -------
GW=$RUN/bin/gateway-$STAMP
cp "$GW_BIN" "$GW"
GW_SHA=$(sha256sum "$GW" | cut -c1-16)
GW_REV=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)

# ---- environment record ---------------------------------------------------------------------------
{
  echo "date: $(date -Is)"
  echo "host: $(uname -srm), $(nproc) CPUs, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
  echo "load before run: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "nginx: $(nginx -v 2>&1 | sed 's/.*: //')"
  echo "haproxy: $(haproxy -v | head -1)"
  echo "wrk: $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')"
  echo "openssl: $(openssl version)"
  echo "node: $(node -v)"
  echo "gateway: $GW_BIN (sha256 $GW_SHA, repo $GW_REV), workers=$GW_WORKERS, AUTH=$AUTH"
  echo "pinning: PIN=$PIN server_cpu=$PB_SERVER_CPU (upstream + proxy under test) client_cpu=$PB_CLIENT_CPU (wrk, memory client)"
  echo "wrk: -t$THREADS -c$CONNS -d${DURATION}s, rounds=$ROUNDS, warmup=${WARMUP}s, path=$PB_PATH"
  echo "tokens: iss=$PB_ISS aud=$PB_AUD scope='$PB_SCOPE' ttl=${PB_TOKEN_TTL}s rotating=$NTOKENS"
  echo "ulimit -n: $NOFILE; peerbench: $PEERBENCH; run dir: $RUN"
} > "$OUT/env.txt"
cat "$OUT/env.txt" >&2

# ---- keys and tokens (same scheme as peerbench's run.sh) -------------------------------------------
if [ ! -f "$PB_KEYS/jwks.json" ]; then "$PB_HOME/keys.sh" "$PB_KEYS" >/dev/null; fi
cp "$PB_KEYS/jwks.json" "$OUT/jwks.json"
TOK=$RUN/tokens
# Token files are tagged with a hash of everything that determines their validity and are reused while
# they stay valid for >= 30 min (NTOKENS=300000 costs ~80 s of RS256 minting once, then nothing).
TAG=$(printf '%s|' "$(cat "$PB_KEYS/jwks.json")" "$PB_ISS" "$PB_AUD" "$PB_SCOPE" "$PB_SUB" "$PB_RSA_KID" "$PB_EC_KID" | sha256sum | cut -c1-10)
tokfile() { echo "$TOK/${1,,}-$2-$TAG.txt"; }   # ALG COUNT
ensure_tokens() { # ALG COUNT
  local f key kid extra=()
  f=$(tokfile "$1" "$2")
  if [ -f "$f" ] && [ "$(wc -l < "$f")" = "$2" ] && node -e '
      const t = require("fs").readFileSync(process.argv[1], "utf8").split("\n")[0].split(".")[1];
      process.exit(JSON.parse(Buffer.from(t, "base64url")).exp > Date.now() / 1000 + 1800 ? 0 : 1)' "$f"; then
    pb_log "reusing $f"; return 0
  fi
  if [ "$1" = RS256 ]; then key=$PB_KEYS/rsa_private.pem kid=$PB_RSA_KID; else key=$PB_KEYS/ec_private.pem kid=$PB_EC_KID; fi
  if [ "$2" -gt 1 ]; then extra=(--sub-suffix 1); fi
  pb_log "minting $2 $1 tokens ..."
  node "$PB_HOME/mint.js" --alg "$1" --key "$key" --kid "$kid" --iss "$PB_ISS" --aud "$PB_AUD" \
    --scope "$PB_SCOPE" --sub "$PB_SUB" --exp "$PB_TOKEN_TTL" --count "$2" --out "$f.tmp" "${extra[@]}"
  mv "$f.tmp" "$f"
  [ "$(sort -u "$f" | wc -l)" = "$2" ] || pb_die "tokens in $f not distinct"
  pb_log "minted $2 $1 tokens -> $f (valid ${PB_TOKEN_TTL}s)"
}
for alg in RS256 ES256; do ensure_tokens $alg 1; ensure_tokens $alg "$NTOKENS"; done
T_RS1=$(tokfile RS256 1)

# ---- gateway configs (rendered into the run dir, never into the repo) -------------------------------
if [ -f "$REPO/policies/public.ini" ]; then
  PUBLIC_POLICY=$REPO/policies/public.ini
else
  PUBLIC_POLICY=$RUN/conf/public.ini
  printf '; every method and path is public (generated by bench/run.sh)\n[* /**]\nauth = none\n' > "$PUBLIC_POLICY"
fi
cp "$PUBLIC_POLICY" "$OUT/conf/gateway-plain.policy.ini"

cat > "$RUN/conf/gateway-plain.ini" <<EOF
; gateway-plain: no auth (every route public), rendered by bench/run.sh
[server]
listen = 127.0.0.1:$GW_PLAIN_PORT
workers = $GW_WORKERS
idle_timeout = 300s
drain_timeout = 2s

[upstream:api]
prefix = /api/v4
url = http://127.0.0.1:$PB_UPSTREAM_PORT

[policy]
file = $PUBLIC_POLICY

[log]
level = warn
access = off
EOF

# gateway-jwt: configured like peer B (peerbench README "Plugging in the gateway"): RS256/ES256 from
# the JWKS file, iss/aud, exp required, profiles:read on /api/v4/profiles[/...] (403 otherwise), any
# valid token elsewhere under /api/v4, X-Auth-Sub forwarded like HAProxy's.
cat > "$RUN/conf/gateway-jwt.policy.ini" <<'EOF'
; bench policy mirroring peerbench's haproxy-jwt (rendered by bench/run.sh)
[defaults]
unmatched = deny

[* /api/v4/profiles]
scopes = profiles:read

[* /api/v4/profiles/**]
scopes = profiles:read

[* /api/v4/**]
auth = token
EOF
cat > "$RUN/conf/gateway-jwt.ini" <<EOF
; gateway-jwt: bearer JWT verification, rendered by bench/run.sh
[server]
listen = 127.0.0.1:$GW_PORT
workers = $GW_WORKERS
public_url = http://127.0.0.1:$GW_PORT
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
; HAProxy checks exp - now > 0 with no clock-skew allowance, and verify.sh sends exp = now-10:
; the gateway's default 30s leeway would accept that token, so the bench holds it to the same rule.
leeway = 0s

[upstream:api]
prefix = /api/v4
url = http://127.0.0.1:$PB_UPSTREAM_PORT

[policy]
file = $RUN/conf/gateway-jwt.policy.ini

[forward]
header.X-Auth-Sub = sub

[log]
level = warn
access = off
EOF
cp "$RUN/conf/gateway-plain.ini" "$RUN/conf/gateway-jwt.ini" "$RUN/conf/gateway-jwt.policy.ini" "$OUT/conf/"

gw_start() { # NAME PORT CONF
  local name=$1 port=$2 conf=$3 pid
  if ! "$GW" -t -c "$conf" > "$OUT/$name.config-check.txt" 2>&1; then
    cat "$OUT/$name.config-check.txt" >&2; pb_die "$name: gateway -t rejected $conf"
  fi
  $(pb_pin server) "$GW" -c "$conf" >"$RUN/logs/$name.log" 2>&1 </dev/null &
  pid=$!
  # Record at once (with the exe it must become), so that a failure below still stops it.
  echo "$pid $GW" > "$RUN/pids/$name.pid"; STARTED+=("$name")
  if ! pb_wait_port "$port" 10; then
    tail -20 "$RUN/logs/$name.log" >&2; pb_die "$name did not listen on 127.0.0.1:$port (log: $RUN/logs/$name.log)"
  fi
  pb_alive "$pid" || { tail -20 "$RUN/logs/$name.log" >&2; pb_die "$name exited"; }
  pb_log "$name started pid $pid on 127.0.0.1:$port"
}

# ---- start servers ------------------------------------------------------------------------------------
"$PB_HOME/upstream/start.sh" >/dev/null;    STARTED+=(upstream)
"$PB_HOME/nginx-proxy/start.sh" >/dev/null; STARTED+=(nginx-proxy)
"$PB_HOME/haproxy-jwt/start.sh" >/dev/null; STARTED+=(haproxy-jwt)
gw_start gateway-plain "$GW_PLAIN_PORT" "$RUN/conf/gateway-plain.ini"
if [ "$AUTH" = 1 ]; then gw_start gateway-jwt "$GW_PORT" "$RUN/conf/gateway-jwt.ini"; fi
cp "$RUN/conf/upstream.nginx.conf" "$RUN/conf/nginx-proxy.nginx.conf" "$RUN/conf/haproxy-jwt.cfg" "$OUT/conf/"

# ---- functional checks ----------------------------------------------------------------------------------
U=http://127.0.0.1
probe() { # URL [curl args] -> "STATUS BODY"
  local url=$1; shift
  curl -s -m 5 -o "$RUN/tmp/probe.body" -w '%{http_code}' "$@" "$url" 2>/dev/null || true
  printf ' %s' "$(head -c 200 "$RUN/tmp/probe.body" 2>/dev/null | tr -d '\r\n')"
}
RS1=$(head -1 "$T_RS1")
check_200() { # NAME URL [curl args]
  local name=$1 url=$2 got; shift 2
  got=$(probe "$url" "$@")
  if [ "${got%% *}" = 200 ]; then echo pass; else pb_log "WARNING: $name: GET $url answered '$got', expected 200 {\"ok\":true}"; echo "FAIL: $got"; fi
}
CHK_DIRECT=$(check_200 direct "$U:$PB_UPSTREAM_PORT$PB_PATH")
CHK_GW_PLAIN=$(check_200 gateway-plain "$U:$GW_PLAIN_PORT$PB_PATH" -H "Authorization: Bearer $RS1")
"$PB_HOME/verify.sh" "$U:$PB_HAPROXY_PORT" > "$OUT/verify-haproxy-jwt.txt" 2>&1 \
  || { cat "$OUT/verify-haproxy-jwt.txt" >&2; pb_die "haproxy-jwt failed peerbench's verify.sh"; }
pb_log "haproxy-jwt passed verify.sh"
GW_VERIFY=n/a; CHK_GW_JWT=n/a
if [ "$AUTH" = 1 ]; then
  CHK_GW_JWT=$(check_200 gateway-jwt "$U:$GW_PORT$PB_PATH" -H "Authorization: Bearer $RS1")
  if "$PB_HOME/verify.sh" "$U:$GW_PORT" > "$OUT/verify-gateway-jwt.txt" 2>&1; then GW_VERIFY=pass
  else GW_VERIFY=FAIL; pb_log "WARNING: gateway-jwt failed verify.sh, see $OUT/verify-gateway-jwt.txt"; grep 'FAIL' "$OUT/verify-gateway-jwt.txt" >&2 || true; fi
  pb_log "gateway-jwt verify.sh: $GW_VERIFY"
fi
node -e 'process.stdout.write(JSON.stringify({direct:process.argv[1],gateway_plain:process.argv[2],gateway_jwt:process.argv[3],gateway_jwt_verify:process.argv[4]})+"\n")' \
  "$CHK_DIRECT" "$CHK_GW_PLAIN" "$CHK_GW_JWT" "$GW_VERIFY" > "$OUT/checks.json"

# openssl speed output -> one JSON object (sign/s and verify/s of RSA-2048 and P-256).
openssl_json() {
  awk '/^rsa 2048 bits/{r_s=$(NF-1); r_v=$NF} /ecdsa \(nistp256\)/{e_s=$(NF-1); e_v=$NF}
       END{printf "{\"rsa2048_sign_s\":%s,\"rsa2048_verify_s\":%s,\"ecdsap256_sign_s\":%s,\"ecdsap256_verify_s\":%s}\n", r_s+0, r_v+0, e_s+0, e_v+0}' "$1"
}

# ---- crypto physical limit ------------------------------------------------------------------------------
if [ "$SKIP_OPENSSL" != 1 ]; then
  pb_log "openssl speed -seconds $OPENSSL_SECONDS rsa2048 ecdsap256 (server CPU) ..."
  $(pb_pin server) openssl speed -seconds "$OPENSSL_SECONDS" rsa2048 ecdsap256 > "$OUT/openssl-speed.txt" 2>/dev/null
  openssl_json "$OUT/openssl-speed.txt" > "$OUT/openssl.json"
  cat "$OUT/openssl.json" >&2
fi

# ---- idle keep-alive connection memory (once, before the throughput rounds) ------------------------------
if [ "$SKIP_MEMORY" != 1 ]; then
  : > "$OUT/memory.jsonl"
  mem() { # label port pid
    pb_alive "$3" || { pb_log "memory: $1 (pid $3) is not running, skipped"; return 0; }
    pb_log "memory: $IDLE_CONNS idle keep-alive connections to $1 ..."
    $(pb_pin client) node "$PB_HOME/idle_conns.js" --port "$2" --pids "$3" --n "$IDLE_CONNS" \
      --token-file "$T_RS1" --path "$PB_PATH" --label "$1" --settle-ms 1500 >> "$OUT/memory.jsonl" \
      || pb_log "memory: probe failed for $1"
  }
  mem upstream-direct "$PB_UPSTREAM_PORT"      "$(pb_pid upstream)"
  mem nginx-proxy     "$PB_NGINX_PROXY_PORT"   "$(pb_pid nginx-proxy)"
  # haproxy-plain and haproxy-jwt are one process: measured once (a second probe of the same process
  # would reuse the pools grown by the first and under-report).
  mem haproxy-plain   "$PB_HAPROXY_PLAIN_PORT" "$(pb_pid haproxy-jwt)"
  mem gateway-plain   "$GW_PLAIN_PORT"         "$(pb_pid gateway-plain)"
  if [ "$AUTH" = 1 ]; then mem gateway-jwt "$GW_PORT" "$(pb_pid gateway-jwt)"; fi
  sleep 1
fi

# ---- throughput matrix --------------------------------------------------------------------------------------
# label | base url | token file | process measured as "proxy" (pid name, - = none) | alg | tokens
T=()
add() { T+=("$1|$2|$3|$4|$5|$6"); }
add direct        "$U:$PB_UPSTREAM_PORT"      "$T_RS1" -             - 1
add nginx-proxy   "$U:$PB_NGINX_PROXY_PORT"   "$T_RS1" nginx-proxy   - 1
add haproxy-plain "$U:$PB_HAPROXY_PLAIN_PORT" "$T_RS1" haproxy-jwt   - 1
add gateway-plain "$U:$GW_PLAIN_PORT"         "$T_RS1" gateway-plain - 1
for alg in rs256 es256; do
  for n in 1 "$NTOKENS"; do
    add "haproxy-jwt-$alg-${n}tok" "$U:$PB_HAPROXY_PORT" "$(tokfile "$alg" "$n")" haproxy-jwt "${alg^^}" "$n"
    if [ "$AUTH" = 1 ]; then add "gateway-jwt-$alg-${n}tok" "$U:$GW_PORT" "$(tokfile "$alg" "$n")" gateway-jwt "${alg^^}" "$n"; fi
  done
done

# Continuous token cycle per target: each run starts where the previous run of the same target stopped
# (see bench/wrk.lua), so a proxy sees a token again only after all NTOKENS-1 others, across warm-up
# and rounds.
declare -A CURSOR=()
run_wrk() { # label url tokfile duration rawfile
  local start=${CURSOR[$1]:-0} j req
  $(pb_pin client) wrk -t"$THREADS" -c"$CONNS" -d"$4s" --latency -s "$BENCH_DIR/wrk.lua" "$2" \
    -- "$3" "$PB_PATH" "$start" "$THREADS" > "$5" 2>&1 || true
  j=$(sed -n 's/^PEERBENCH_JSON //p' "$5")
  req=$(printf '%s' "$j" | sed -n 's/.*"requests":\([0-9]*\).*/\1/p')
  CURSOR[$1]=$((start + ${req:-0}))
}

declare -A DEAD=()
pb_log "warm-up ${WARMUP}s per target (${#T[@]} targets) ..."
for t in "${T[@]}"; do
  IFS='|' read -r label url tok _ <<<"$t"
  if [ "$WARMUP" -gt 0 ]; then run_wrk "$label" "$url" "$tok" "$WARMUP" "$OUT/raw/warmup-$label.txt"; fi
done

UPID=$(pb_pid upstream)
for round in $(seq 1 "$ROUNDS"); do
  for t in "${T[@]}"; do
    IFS='|' read -r label url tok pname alg ntok <<<"$t"
    ppid=
    if [ "$pname" != - ]; then
      ppid=$(pb_pid "$pname" || true)
      if [ -n "${DEAD[$pname]:-}" ] || [ -z "$ppid" ] || ! pb_alive "$ppid"; then
        if [ -z "${DEAD[$pname]:-}" ]; then
          DEAD[$pname]="before $label round $round"
          pb_log "ERROR: $pname (pid ${ppid:-?}) is not running; its targets are skipped. Log tail:"
          tail -20 "$RUN/logs/$pname.log" >&2 2>/dev/null || true
        fi
        continue
      fi
    fi
    raw="$OUT/raw/r$round-$label.txt"
    start=${CURSOR[$label]:-0}
    s0=$(pb_cpustat); u0=$(pb_cpu_ns "$UPID"); p0=0; [ -n "$ppid" ] && p0=$(pb_cpu_ns "$ppid")
    run_wrk "$label" "$url" "$tok" "$DURATION" "$raw"
    s1=$(pb_cpustat); u1=$(pb_cpu_ns "$UPID"); p1=0; [ -n "$ppid" ] && p1=$(pb_cpu_ns "$ppid")
    alive=true
    if [ -n "$ppid" ] && ! pb_alive "$ppid"; then
      alive=false; DEAD[$pname]="during $label round $round"
      pb_log "ERROR: $pname (pid $ppid) died during $label round $round. Log tail:"
      tail -20 "$RUN/logs/$pname.log" >&2 2>/dev/null || true
      cp "$RUN/logs/$pname.log" "$OUT/$pname.crash.log" 2>/dev/null || true
    fi
    j=$(sed -n 's/^PEERBENCH_JSON //p' "$raw")
    [ -n "$j" ] || j='{"requests":0,"rps":0,"lat_p50_us":0,"lat_p99_us":0,"err_connect":1}'
    non2xx=$(awk '/Non-2xx or 3xx responses:/{print $NF}' "$raw"); non2xx=${non2xx:-0}
    echo "{\"round\":$round,\"label\":\"$label\",\"alg\":\"$alg\",\"tokens\":$ntok,\"proxy\":\"$pname\",\"proxy_pid\":\"$ppid\",\"proxy_alive_after\":$alive,\"token_start\":$start,\"proxy_cpu_ns\":$((p1-p0)),\"upstream_cpu_ns\":$((u1-u0)),\"non2xx\":$non2xx,\"cpu_before\":$s0,\"cpu_after\":$s1,\"wrk\":$j}" >> "$OUT/runs.jsonl"
    node -e 'const r=JSON.parse(process.argv[1]);console.error(`[round ${process.argv[2]}] ${process.argv[3].padEnd(28)} ${String(Math.round(r.rps)).padStart(7)} req/s  p50 ${(r.lat_p50_us/1000).toFixed(2)}ms  p99 ${(r.lat_p99_us/1000).toFixed(2)}ms  non2xx ${process.argv[4]}`)' "$j" "$round" "$label" "$non2xx"
  done
  # The verify speed of this core drifts over minutes on a shared VM (seen: 20.7 to 29 us for RSA-2048
  # within one run): each round measures it again, and the JWT-work ratios pair each round with its own.
  if [ "$SKIP_OPENSSL" != 1 ] && [ "$ROUND_OPENSSL_SECONDS" -gt 0 ]; then
    $(pb_pin server) openssl speed -seconds "$ROUND_OPENSSL_SECONDS" rsa2048 ecdsap256 > "$OUT/raw/r$round-openssl-speed.txt" 2>/dev/null
    echo "{\"round\":$round,\"openssl\":$(openssl_json "$OUT/raw/r$round-openssl-speed.txt")}" >> "$OUT/openssl-rounds.jsonl"
    pb_log "[round $round] openssl speed: $(tail -1 "$OUT/openssl-rounds.jsonl")"
  fi
done

# ---- summary ------------------------------------------------------------------------------------------------
TOKSENT=$(for t in "${T[@]}"; do IFS='|' read -r label _ <<<"$t"; echo "\"$label\":${CURSOR[$label]:-0}"; done | paste -sd, -)
DEADJ=$(for k in "${!DEAD[@]}"; do echo "\"$k\":\"${DEAD[$k]}\""; done | paste -sd, -)
T_END=$(date +%s)
echo "{\"stamp\":\"$STAMP\",\"wall_s\":$((T_END-T_START)),\"rounds\":$ROUNDS,\"duration_s\":$DURATION,\"warmup_s\":$WARMUP,\"conns\":$CONNS,\"threads\":$THREADS,\"ntokens\":$NTOKENS,\"idle_conns\":$IDLE_CONNS,\"pin\":$PIN,\"server_cpu\":$PB_SERVER_CPU,\"client_cpu\":$PB_CLIENT_CPU,\"auth\":$AUTH,\"quick\":$QUICK,\"gateway_workers\":$GW_WORKERS,\"tokens_sent\":{${TOKSENT}},\"dead\":{${DEADJ}}}" > "$OUT/meta.json"
for n in gateway-plain gateway-jwt; do if [ -f "$RUN/logs/$n.log" ]; then cp "$RUN/logs/$n.log" "$OUT/$n.log"; fi; done
node "$BENCH_DIR/summarize.js" "$OUT"
pb_log "results in $OUT (wall $((T_END-T_START))s)"
