#!/usr/bin/env bash
# TLS benchmark: build/gateway against nginx, both terminating TLS in front of the same upstream
# (peerbench's nginx `return 200`), with the same RSA-2048 certificate and the same cipher, in ONE
# interleaved run (rounds x {TLS 1.2, 1.3} x {nginx, gateway}).
#
#   bash bench/tls-bench.sh                 # ~5 min with the defaults
#   ROUNDS=1 DURATION=3 HS_DURATION=3 bash bench/tls-bench.sh   # smoke run, ~40 s
#
# Measures, per target and TLS version:
#   (a) full handshakes per second: HS_CLIENTS parallel `openssl s_time -new` (a new TCP connection and
#       a full handshake each time, no session reuse), HS_DURATION seconds; rate = sum over clients of
#       connections / that client's wall time;
#   (b) keep-alive requests per second over TLS: `wrk -t$THREADS -c$CONNS -d${DURATION}s --latency
#       https://127.0.0.1:PORT/api/v4/profiles`.
# The cipher: the clients (s_time, wrk) run with OPENSSL_CONF pointing at a file that allows only
# ECDHE-RSA-AES128-GCM-SHA256 (TLS 1.2) or TLS_AES_128_GCM_SHA256 (TLS 1.3); nginx is configured with
# exactly those; the gateway gets tls_ciphers = the TLS 1.2 one (TLS 1.3 suites are not configurable in
# it: it picks TLS_AES_128_GCM_SHA256 because nothing else is offered). Checked before the rounds with `openssl s_client` on both targets and, for wrk, through
# nginx's /__tls location (which answers $ssl_protocol $ssl_cipher).
# Pinning as in ../shared/peerbench: upstream + proxy under test on CPU PB_SERVER_CPU (0), clients on
# PB_CLIENT_CPU (1). The gateway runs with workers = 0 (one loop per CPU of its mask: 1), a public
# policy ([* /**] auth = none) and the access log off; nginx with 1 worker and access_log off.
#
# Knobs (env): ROUNDS=3 DURATION=10 HS_DURATION=10 HS_CLIENTS=4 CONNS=64 THREADS=1 WARMUP=2
#   VERSIONS="1.2 1.3" PIN=1 GW_BIN=<repo>/build/gateway GW_WORKERS=0
#   PB_UPSTREAM_PORT=18181 NGINX_TLS_PORT=18182 GW_TLS_PORT=18183 (127.0.0.1 only; refuses busy ports)
#   PEERBENCH=<repo>/../shared/peerbench PB_RUN=/tmp/gateway-tls-bench-run OUT=bench/results/tls-<stamp>
# Results: $OUT/summary.md (printed at the end), runs.jsonl, raw client output, rendered configs, env.txt.
# Everything started here is stopped at exit (also on error or Ctrl-C), by recorded PID only.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
PEERBENCH=${PEERBENCH:-$REPO/../shared/peerbench}
[ -f "$PEERBENCH/lib.sh" ] || { echo "tls-bench: peerbench not found at $PEERBENCH (set PEERBENCH=...)" >&2; exit 1; }
PEERBENCH=$(cd "$PEERBENCH" && pwd)
export PB_RUN=${PB_RUN:-/tmp/gateway-tls-bench-run}
# Own upstream port, so that this run never meets bench/run.sh's or peerbench's (18081).
export PB_UPSTREAM_PORT=${PB_UPSTREAM_PORT:-18181}
# shellcheck source=/dev/null
. "$PEERBENCH/lib.sh"          # PB_HOME, config.env (PB_* defaults), pb_* helpers
pb_log() { printf '[tls-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-10}; HS_DURATION=${HS_DURATION:-10}; HS_CLIENTS=${HS_CLIENTS:-4}
CONNS=${CONNS:-64}; THREADS=${THREADS:-1}; WARMUP=${WARMUP:-2}; VERSIONS=${VERSIONS:-1.2 1.3}
NGINX_TLS_PORT=${NGINX_TLS_PORT:-18182}; GW_TLS_PORT=${GW_TLS_PORT:-18183}; GW_WORKERS=${GW_WORKERS:-0}
GW_BIN=${GW_BIN:-$REPO/build/gateway}
TLS12_CIPHER=ECDHE-RSA-AES128-GCM-SHA256
TLS13_SUITE=TLS_AES_128_GCM_SHA256
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=${OUT:-$BENCH_DIR/results/tls-$STAMP}
T_START=$(date +%s)

for v in ROUNDS DURATION HS_DURATION HS_CLIENTS CONNS THREADS WARMUP NGINX_TLS_PORT GW_TLS_PORT GW_WORKERS PB_UPSTREAM_PORT; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || pb_die "$v must be a non-negative integer (got '${!v}')"
done
[ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 100 ] || pb_die "ROUNDS must be 1..100"
[ "$DURATION" -ge 1 ] && [ "$HS_DURATION" -ge 1 ] && [ "$HS_CLIENTS" -ge 1 ] && [ "$HS_CLIENTS" -le 64 ] \
  && [ "$CONNS" -ge 1 ] && [ "$THREADS" -ge 1 ] || pb_die "DURATION, HS_DURATION, CONNS, THREADS >= 1; HS_CLIENTS 1..64"
for ver in $VERSIONS; do [ "$ver" = 1.2 ] || [ "$ver" = 1.3 ] || pb_die "VERSIONS: 1.2 and/or 1.3 (got '$ver')"; done
for t in nginx wrk node openssl curl taskset sha256sum; do command -v "$t" >/dev/null || pb_die "missing $t (apt-get install -y nginx wrk)"; done
[ -x "$GW_BIN" ] || pb_die "no gateway binary at $GW_BIN (run make)"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

pb_dirs
RUN=$PB_RUN
mkdir -p "$RUN/bin" "$RUN/tls" "$OUT/raw" "$OUT/conf"
: > "$OUT/runs.jsonl"

# ---- cleanup: stop only what this run started, by recorded PID ------------------------------------
STARTED=()
CLIENT_PIDS=()
cleanup() {
  local i p
  for p in "${CLIENT_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for ((i=${#STARTED[@]}-1; i>=0; i--)); do pb_stop "${STARTED[$i]}" || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for p in "$PB_UPSTREAM_PORT" "$NGINX_TLS_PORT" "$GW_TLS_PORT"; do
  pb_port_free "$p" || pb_die "port $p busy (leftover run? PB_RUN=$RUN $PEERBENCH/stop.sh stops what is recorded in $RUN/pids)"
done

# ---- the gateway binary: a private copy (a concurrent `make` cannot swap it mid-run) ---------------
GW=$RUN/bin/gateway-$STAMP
cp "$GW_BIN" "$GW"
GW_SHA=$(sha256sum "$GW" | cut -c1-16)
GW_REV=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)

# ---- certificate: a throw-away CA and an RSA-2048 server certificate for localhost / 127.0.0.1 -----
TLS_DIR=$RUN/tls
TLS_CERT=$TLS_DIR/server.crt
TLS_KEY=$TLS_DIR/server.key
TLS_CA=$TLS_DIR/ca.crt
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TLS_DIR/ca.key" -out "$TLS_CA" -days 7 \
  -subj "/CN=tls-bench CA" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -new -newkey rsa:2048 -nodes -keyout "$TLS_KEY" -out "$TLS_DIR/server.csr" -subj /CN=localhost 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$TLS_DIR/server.ext"
openssl x509 -req -in "$TLS_DIR/server.csr" -CA "$TLS_CA" -CAkey "$TLS_DIR/ca.key" -set_serial 0x"$(openssl rand -hex 8)" \
  -days 7 -sha256 -extfile "$TLS_DIR/server.ext" -out "$TLS_CERT" 2>/dev/null
openssl verify -CAfile "$TLS_CA" "$TLS_CERT" >/dev/null || pb_die "generated certificate does not verify"

# Client-side OpenSSL configs: one protocol version, one cipher (read by s_time, s_client and wrk via
# OPENSSL_CONF; servers never see these).
client_cnf() { # VERSION -> path
  local f="$TLS_DIR/client-tls$1.cnf"
  cat > "$f" <<EOF
openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
MinProtocol = TLSv$1
MaxProtocol = TLSv$1
CipherString = $TLS12_CIPHER
Ciphersuites = $TLS13_SUITE
EOF
  echo "$f"
}
declare -A CNF=()
for ver in $VERSIONS; do CNF[$ver]=$(client_cnf "$ver"); done

# ---- configs ---------------------------------------------------------------------------------------------
if [ -f "$REPO/policies/public.ini" ]; then
  PUBLIC_POLICY=$REPO/policies/public.ini
else
  PUBLIC_POLICY=$RUN/conf/public.ini
  printf '; every method and path is public (generated by bench/tls-bench.sh)\n[* /**]\nauth = none\n' > "$PUBLIC_POLICY"
fi
pb_render "$BENCH_DIR/tls-nginx.conf" "$RUN/conf/nginx-tls.nginx.conf" \
  PB_RUN PB_UPSTREAM_PORT NGINX_TLS_PORT TLS_CERT TLS_KEY TLS12_CIPHER TLS13_SUITE
pb_render "$BENCH_DIR/tls-gateway.conf" "$RUN/conf/gateway-tls.ini" \
  GW_TLS_PORT TLS_CERT TLS_KEY TLS12_CIPHER GW_WORKERS PB_UPSTREAM_PORT PUBLIC_POLICY
# A gateway binary older than [server] tls_ciphers: drop the key (the client still offers one cipher only).
GW_CIPHERS=configured
if ! chk=$("$GW" -t -c "$RUN/conf/gateway-tls.ini" 2>&1) && [[ "$chk" == *tls_ciphers* ]]; then
  sed -i '/^tls_ciphers = /d' "$RUN/conf/gateway-tls.ini"
  GW_CIPHERS="not configurable in this binary: enforced by the client only"
fi
cp "$RUN/conf/nginx-tls.nginx.conf" "$RUN/conf/gateway-tls.ini" "$PUBLIC_POLICY" "$OUT/conf/"
for ver in $VERSIONS; do cp "${CNF[$ver]}" "$OUT/conf/"; done

# ---- environment record ------------------------------------------------------------------------------------
{
  echo "date: $(date -Is)"
  echo "host: $(uname -srm), $(nproc) CPUs, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
  echo "load before run: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "nginx: $(nginx -v 2>&1 | sed 's/.*: //')"
  echo "wrk: $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')"
  echo "openssl: $(openssl version)"
  echo "gateway: $GW_BIN (sha256 $GW_SHA, repo $GW_REV), workers=$GW_WORKERS"
  echo "certificate: RSA-2048, CN=localhost, SAN localhost + 127.0.0.1 (same files for nginx and the gateway)"
  echo "ciphers: TLS 1.2 $TLS12_CIPHER, TLS 1.3 $TLS13_SUITE (client-side OPENSSL_CONF; nginx configured the same; gateway tls_ciphers: $GW_CIPHERS)"
  echo "pinning: PIN=$PIN server_cpu=$PB_SERVER_CPU (upstream + proxy under test) client_cpu=$PB_CLIENT_CPU (s_time, wrk)"
  echo "handshakes: $HS_CLIENTS x openssl s_time -new, ${HS_DURATION}s; keep-alive: wrk -t$THREADS -c$CONNS -d${DURATION}s; rounds=$ROUNDS, versions=$VERSIONS, warmup=${WARMUP}s"
  echo "upstream: peerbench nginx return 200 on 127.0.0.1:$PB_UPSTREAM_PORT; nginx-tls :$NGINX_TLS_PORT; gateway-tls :$GW_TLS_PORT"
} > "$OUT/env.txt"
cat "$OUT/env.txt" >&2

# ---- start servers (all pinned to the server CPU) ------------------------------------------------------------
"$PB_HOME/upstream/start.sh" >/dev/null; STARTED+=(upstream)

nginx -t -q -c "$RUN/conf/nginx-tls.nginx.conf" -p "$RUN/" -e "$RUN/logs/nginx-tls.error.log" \
  || pb_die "nginx -t rejected $RUN/conf/nginx-tls.nginx.conf"
$(pb_pin server) nginx -c "$RUN/conf/nginx-tls.nginx.conf" -p "$RUN/" -e "$RUN/logs/nginx-tls.error.log" \
  >"$RUN/logs/nginx-tls.out" 2>&1 </dev/null &
NGINX_PID=$!
echo "$NGINX_PID $(command -v nginx | xargs readlink -f)" > "$RUN/pids/nginx-tls.pid"; STARTED+=(nginx-tls)
pb_wait_port "$NGINX_TLS_PORT" 10 || pb_die "nginx-tls did not listen on $NGINX_TLS_PORT; see $RUN/logs/nginx-tls.*"
pb_record_pid nginx-tls "$NGINX_PID"
pb_log "nginx-tls started pid $NGINX_PID on 127.0.0.1:$NGINX_TLS_PORT"

"$GW" -t -c "$RUN/conf/gateway-tls.ini" > "$OUT/gateway-tls.config-check.txt" 2>&1 \
  || { cat "$OUT/gateway-tls.config-check.txt" >&2; pb_die "gateway -t rejected $RUN/conf/gateway-tls.ini"; }
$(pb_pin server) "$GW" -c "$RUN/conf/gateway-tls.ini" >"$RUN/logs/gateway-tls.log" 2>&1 </dev/null &
GW_PID=$!
echo "$GW_PID $GW" > "$RUN/pids/gateway-tls.pid"; STARTED+=(gateway-tls)
pb_wait_port "$GW_TLS_PORT" 10 || { tail -20 "$RUN/logs/gateway-tls.log" >&2; pb_die "gateway-tls did not listen on $GW_TLS_PORT"; }
pb_alive "$GW_PID" || { tail -20 "$RUN/logs/gateway-tls.log" >&2; pb_die "gateway-tls exited"; }
pb_log "gateway-tls started pid $GW_PID on 127.0.0.1:$GW_TLS_PORT"

declare -A PORT=([nginx]=$NGINX_TLS_PORT [gateway]=$GW_TLS_PORT)
declare -A PNAME=([nginx]=nginx-tls [gateway]=gateway-tls)
TARGETS="nginx gateway"

# ---- functional checks: 200 through both, negotiated protocol + cipher as intended ----------------------------
: > "$OUT/checks.txt"
for tgt in $TARGETS; do
  got=$(curl -s -m 5 --cacert "$TLS_CA" -o "$RUN/tmp/probe.body" -w '%{http_code}' "https://localhost:${PORT[$tgt]}$PB_PATH" || true)
  body=$(head -c 200 "$RUN/tmp/probe.body" 2>/dev/null | tr -d '\r\n')
  echo "$tgt GET $PB_PATH: $got $body" >> "$OUT/checks.txt"
  [ "$got" = 200 ] || pb_die "$tgt: GET https://localhost:${PORT[$tgt]}$PB_PATH answered '$got $body', expected 200"
  for ver in $VERSIONS; do
    out=$(OPENSSL_CONF=${CNF[$ver]} timeout 10 openssl s_client -connect "127.0.0.1:${PORT[$tgt]}" -servername localhost \
      -CAfile "$TLS_CA" </dev/null 2>&1 || true)
    neg=$(printf '%s\n' "$out" | sed -n 's/^New, \(TLSv[0-9.]*\), Cipher is \(.*\)$/\1 \2/p' | head -1)
    vr=$(printf '%s\n' "$out" | sed -n 's/^ *Verify return code: \(.*\)$/\1/p' | head -1)
    echo "$tgt TLS $ver s_client: ${neg:-none} (verify: ${vr:-?})" >> "$OUT/checks.txt"
    want="TLSv$ver $([ "$ver" = 1.2 ] && echo "$TLS12_CIPHER" || echo "$TLS13_SUITE")"
    [ "$neg" = "$want" ] || pb_die "$tgt TLS $ver: negotiated '${neg:-nothing}', wanted '$want'"
  done
done
# wrk reads OPENSSL_CONF too (libssl loads the default config at init): ask nginx what wrk negotiated.
cat > "$RUN/tmp/tls-probe.lua" <<'EOF'
local seen = false
response = function(status, headers, body)
  if not seen then seen = true; io.write("TLSPROBE ", body) end
end
EOF
for ver in $VERSIONS; do
  out=$(OPENSSL_CONF=${CNF[$ver]} timeout 20 wrk -t1 -c1 -d1s -s "$RUN/tmp/tls-probe.lua" "https://127.0.0.1:$NGINX_TLS_PORT/__tls" 2>&1 || true)
  neg=$(printf '%s\n' "$out" | sed -n 's/^TLSPROBE //p' | head -1)
  echo "wrk TLS $ver (as seen by nginx): ${neg:-none}" >> "$OUT/checks.txt"
  want="TLSv$ver $([ "$ver" = 1.2 ] && echo "$TLS12_CIPHER" || echo "$TLS13_SUITE")"
  [ "$neg" = "$want" ] || pb_die "wrk with ${CNF[$ver]} negotiated '${neg:-nothing}' with nginx, wanted '$want'"
done
cat "$OUT/checks.txt" >&2

# ---- measurement helpers --------------------------------------------------------------------------------------
# cpu<N> busy share between two pb_cpustat snapshots
busy() { # BEFORE AFTER CPU -> fraction
  node -e 'const a=JSON.parse(process.argv[1])["cpu"+process.argv[3]], b=JSON.parse(process.argv[2])["cpu"+process.argv[3]];
    const d=b.map((x,i)=>x-a[i]); const tot=d.reduce((s,x)=>s+x,0); const idle=d[3]+d[4];
    process.stdout.write(String(tot>0?((tot-idle)/tot).toFixed(3):0))' "$1" "$2" "$3"
}

# Full handshakes: HS_CLIENTS parallel s_time -new. Prints "RATE OPS": the sum over clients of
# connections / that client's wall time, and the total number of handshakes.
run_handshakes() { # TARGET VERSION SECONDS RAWPREFIX
  local tgt=$1 ver=$2 secs=$3 raw=$4 i pids=()
  for ((i = 0; i < HS_CLIENTS; i++)); do
    (
      t0=$(date +%s%N)
      OPENSSL_CONF=${CNF[$ver]} $(pb_pin client) timeout $((secs + 30)) openssl s_time -connect "127.0.0.1:${PORT[$tgt]}" \
        -new -time "$secs" > "$raw.$i.txt" 2>&1 || true
      t1=$(date +%s%N)
      echo "WALL_NS $((t1 - t0))" >> "$raw.$i.txt"
    ) &
    pids+=($!); CLIENT_PIDS+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || true; done
  CLIENT_PIDS=()
  for ((i = 0; i < HS_CLIENTS; i++)); do cat "$raw.$i.txt"; echo "END_CLIENT"; done | awk '
    /connections in [0-9.]+s;/ && !n { n = $1 }
    /^WALL_NS / { w = $2 }
    /^END_CLIENT/ { if (n > 0 && w > 0) { rate += n / (w / 1e9); ops += n } n = 0; w = 0 }
    END { printf "%.1f %d\n", rate, ops }'
}

# Keep-alive requests: wrk; prints JSON {rps, p50_ms, p99_ms, errors, non2xx}.
run_wrk() { # TARGET VERSION SECONDS RAWFILE
  local tgt=$1 ver=$2 secs=$3 raw=$4
  OPENSSL_CONF=${CNF[$ver]} $(pb_pin client) timeout $((secs + 30)) wrk -t"$THREADS" -c"$CONNS" -d"${secs}s" --latency \
    "https://127.0.0.1:${PORT[$tgt]}$PB_PATH" > "$raw" 2>&1 || true
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v + 0 }
    /^Requests\/sec:/ { rps = $2 }
    /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) }
    /Socket errors:/ { gsub(/,/, ""); err = $4 + $6 + $8 + $10 }
    /Non-2xx or 3xx responses:/ { n2 = $NF }
    / requests in / { reqs = $1 }
    END { printf "{\"rps\":%s,\"requests\":%d,\"p50_ms\":%s,\"p99_ms\":%s,\"errors\":%d,\"non2xx\":%d}", rps + 0, reqs + 0, p50 + 0, p99 + 0, err + 0, n2 + 0 }' "$raw"
}

# ---- warm-up ------------------------------------------------------------------------------------------------------
if [ "$WARMUP" -gt 0 ]; then
  pb_log "warm-up ${WARMUP}s per target ..."
  for tgt in $TARGETS; do
    for ver in $VERSIONS; do run_wrk "$tgt" "$ver" "$WARMUP" "$OUT/raw/warmup-$tgt-$ver.txt" >/dev/null; done
  done
fi

# ---- rounds -------------------------------------------------------------------------------------------------------
UPID=$(pb_pid upstream)
declare -A DEAD=()
for round in $(seq 1 "$ROUNDS"); do
  for ver in $VERSIONS; do
    for kind in handshakes keepalive; do
      for tgt in $TARGETS; do
        pname=${PNAME[$tgt]}
        ppid=$(pb_pid "$pname" || true)
        if [ -z "$ppid" ] || ! pb_alive "$ppid"; then
          if [ -z "${DEAD[$tgt]:-}" ]; then
            DEAD[$tgt]="before $kind TLS $ver round $round"
            pb_log "ERROR: $pname is not running; its runs are skipped. Log tail:"
            tail -20 "$RUN/logs/$pname.log" "$RUN/logs/$pname.error.log" >&2 2>/dev/null || true
          fi
          continue
        fi
        s0=$(pb_cpustat); p0=$(pb_cpu_ns "$ppid"); u0=$(pb_cpu_ns "$UPID")
        secs=$DURATION; [ "$kind" = handshakes ] && secs=$HS_DURATION
        if [ "$kind" = handshakes ]; then
          read -r rate ops < <(run_handshakes "$tgt" "$ver" "$HS_DURATION" "$OUT/raw/r$round-hs-$tgt-$ver")
          res="{\"rate\":$rate,\"handshakes\":$ops}"
        else
          res=$(run_wrk "$tgt" "$ver" "$DURATION" "$OUT/raw/r$round-ka-$tgt-$ver.txt")
          rate=$(printf '%s' "$res" | sed -n 's/.*"rps":\([0-9.]*\).*/\1/p')
          ops=$(printf '%s' "$res" | sed -n 's/.*"requests":\([0-9]*\).*/\1/p')
        fi
        s1=$(pb_cpustat); p1=$(pb_cpu_ns "$ppid"); u1=$(pb_cpu_ns "$UPID")
        alive=true
        if ! pb_alive "$ppid"; then
          alive=false; DEAD[$tgt]="during $kind TLS $ver round $round"
          pb_log "ERROR: $pname (pid $ppid) died during $kind TLS $ver round $round"
          cp "$RUN/logs/$pname.log" "$OUT/$pname.crash.log" 2>/dev/null || true
        fi
        sb=$(busy "$s0" "$s1" "$PB_SERVER_CPU"); cb=$(busy "$s0" "$s1" "$PB_CLIENT_CPU")
        echo "{\"round\":$round,\"version\":\"$ver\",\"kind\":\"$kind\",\"target\":\"$tgt\",\"duration_s\":$secs,\"rate\":${rate:-0},\"ops\":${ops:-0},\"proxy_cpu_ns\":$((p1 - p0)),\"upstream_cpu_ns\":$((u1 - u0)),\"server_busy\":$sb,\"client_busy\":$cb,\"alive_after\":$alive,\"result\":$res}" >> "$OUT/runs.jsonl"
        pb_log "round $round TLS $ver $kind $tgt: $(printf '%.0f' "${rate:-0}")/s (server CPU busy $sb, client CPU busy $cb)"
      done
    done
  done
done

# ---- summary --------------------------------------------------------------------------------------------------------
T_END=$(date +%s)
cp "$RUN/logs/gateway-tls.log" "$OUT/gateway-tls.log" 2>/dev/null || true
node - "$OUT" "$((T_END - T_START))" > "$OUT/summary.md" <<'EOF'
const fs = require('fs');
const [out, wall] = process.argv.slice(2);
const runs = fs.readFileSync(`${out}/runs.jsonl`, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const env = fs.readFileSync(`${out}/env.txt`, 'utf8');
const checks = fs.readFileSync(`${out}/checks.txt`, 'utf8');
const median = (a) => { const s = [...a].sort((x, y) => x - y); const n = s.length; return n ? (n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2) : NaN; };
const f0 = (x) => (Number.isFinite(x) ? Math.round(x).toString() : '-');
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '-');
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '-');
const pct = (x) => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : '-');
const keys = [];
for (const r of runs) { const k = `${r.kind}|${r.version}`; if (!keys.includes(k)) keys.push(k); }
const lines = [];
lines.push('# TLS: gateway vs nginx (bench/tls-bench.sh)', '', '```', env.trim(), '```', '', 'Checks:', '```', checks.trim(), '```', '');
lines.push('| metric | TLS | target | median /s | per round | proxy CPU µs/op | ops per proxy CPU-s | srv/cli busy | gateway ÷ nginx (/s) | gateway ÷ nginx (per CPU-s) |');
lines.push('|---|---|---|---:|---|---:|---:|---|---:|---:|');
const ratios = [];
for (const k of keys) {
  const [kind, ver] = k.split('|');
  const med = {};
  const eff = {};
  for (const tgt of ['nginx', 'gateway']) {
    const rs = runs.filter((r) => r.kind === kind && r.version === ver && r.target === tgt);
    if (!rs.length) continue;
    const rates = rs.map((r) => r.rate);
    med[tgt] = median(rates);
    // proxy CPU per operation: its CPU time over the run / the handshakes or requests completed
    const cpuPerOp = median(rs.map((r) => (r.ops > 0 ? r.proxy_cpu_ns / 1000 / r.ops : NaN)));
    eff[tgt] = 1e6 / cpuPerOp;
    const extra = kind === 'keepalive' ? ` (p50 ${f2(median(rs.map((r) => r.result.p50_ms)))} ms, p99 ${f2(median(rs.map((r) => r.result.p99_ms)))} ms, errors ${rs.reduce((s, r) => s + r.result.errors + r.result.non2xx, 0)})` : '';
    const ratio = tgt === 'gateway' && med.nginx ? med.gateway / med.nginx : NaN;
    const effRatio = tgt === 'gateway' && eff.nginx ? eff.gateway / eff.nginx : NaN;
    if (tgt === 'gateway') ratios.push({ kind, ver, ratio, effRatio });
    lines.push(`| ${kind === 'handshakes' ? 'full handshakes' : 'keep-alive requests'}${extra} | ${ver} | ${tgt} | ${f0(med[tgt])} | ${rates.map(f0).join(', ')} | ${f1(cpuPerOp)} | ${f0(eff[tgt])} | ${pct(median(rs.map((r) => r.server_busy)))}/${pct(median(rs.map((r) => r.client_busy)))} | ${tgt === 'gateway' ? f2(ratio) : ''} | ${tgt === 'gateway' ? f2(effRatio) : ''} |`);
  }
}
lines.push('', 'Ratios gateway ÷ nginx (medians over rounds; ≥ 1.00 meets the goal "at least nginx"):', '');
for (const r of ratios) lines.push(`- ${r.kind === 'handshakes' ? 'full handshakes' : 'keep-alive requests'}, TLS ${r.ver}: ${f2(r.ratio)} per second, ${f2(r.effRatio)} per proxy CPU-second`);
lines.push('', 'Reading: "srv/cli busy" is the share of the server CPU (upstream + proxy) and of the client CPU that was',
  'busy. When the client CPU is at 100% and the server CPU is not, the client is the limit and the per-second ratio',
  'tends to 1.00 whatever the proxies do; then "ops per proxy CPU-s" (handshakes or requests per second of the',
  'proxy\'s own CPU time, all threads, kernel time included) is the comparison that still tells them apart.');
lines.push('', `Wall time ${wall} s. Raw output: ${out}/raw/, per-run records: ${out}/runs.jsonl.`);
process.stdout.write(lines.join('\n') + '\n');
EOF
cat "$OUT/summary.md"
pb_log "results in $OUT (wall $((T_END - T_START))s)"
