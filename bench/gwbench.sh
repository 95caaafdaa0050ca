# shellcheck shell=bash
# Shared helpers of bench/mcp-bench.sh, bench/mcp-lists-bench.sh, bench/sse-idle-bench.sh and bench/ab.sh (sourced, bash). On top of peerbench's lib.sh:
# its own run dir and ports per script (so a concurrent bench/run.sh or peerbench run on 18081-18084
# is not disturbed), processes recorded by PID and stopped at exit, pinned wrk runs that yield one
# JSON line, the gateway's CPU per run.
#   gb_init NAME RUN_DIR UPSTREAM_PORT   (call first; sets BENCH_DIR REPO PEERBENCH RUN OUT, the trap)
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)

gb_init() { # NAME DEFAULT_RUN DEFAULT_UPSTREAM_PORT
  GB_NAME=$1
  # Next to the checkout (as bench/run.sh expects), or one level up for a worktree in <top>/wt/NAME.
  if [ -z "${PEERBENCH:-}" ]; then
    PEERBENCH=$REPO/../shared/peerbench
    [ -f "$PEERBENCH/lib.sh" ] || PEERBENCH=$REPO/../../shared/peerbench
  fi
  [ -f "$PEERBENCH/lib.sh" ] || { echo "$GB_NAME: peerbench not found at $PEERBENCH (set PEERBENCH=...)" >&2; exit 1; }
  PEERBENCH=$(cd "$PEERBENCH" && pwd)
  export PB_RUN=${PB_RUN:-$2}
  export PB_UPSTREAM_PORT=${PB_UPSTREAM_PORT:-$3}
  # shellcheck source=/dev/null
  . "$PEERBENCH/lib.sh"
  pb_log() { printf '[%s %s] %s\n' "$GB_NAME" "$(date +%H:%M:%S)" "$*" >&2; }
  pb_dirs
  RUN=$PB_RUN
  STAMP=$(date +%Y%m%d-%H%M%S)
  OUT=${OUT:-$BENCH_DIR/results/$GB_NAME-$STAMP}
  mkdir -p "$RUN/bin" "$OUT/raw" "$OUT/conf"
  STARTED=()
  trap gb_cleanup EXIT
  trap 'exit 130' INT TERM
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
}

gb_cleanup() {
  local i
  for ((i=${#STARTED[@]}-1; i>=0; i--)); do pb_stop "${STARTED[$i]}" || true; done
}

gb_need() { local t; for t in "$@"; do command -v "$t" >/dev/null || pb_die "missing $t (apt-get install -y nginx wrk valgrind)"; done; }

gb_ints() { # VAR... : each a non-negative integer
  local v
  for v in "$@"; do [[ "${!v}" =~ ^[0-9]+$ ]] || pb_die "$v must be a non-negative integer (got '${!v}')"; done
}

gb_ports_free() { local p; for p in "$@"; do pb_port_free "$p" || pb_die "port $p busy (leftover run? PB_RUN=$RUN $PEERBENCH/stop.sh)"; done; }

# A private copy of a binary, so that a concurrent `make` cannot swap it mid-run. Prints its path.
gb_copy_bin() { # SRC TAG
  [ -x "$1" ] || pb_die "no gateway binary at $1"
  cp "$1" "$RUN/bin/gateway-$2-$STAMP"
  echo "$RUN/bin/gateway-$2-$STAMP"
}

gb_upstream_start() {
  # Listed before it starts: a signal during start.sh runs the trap after start.sh has recorded the PID.
  STARTED+=(upstream)
  "$PB_HOME/upstream/start.sh" >/dev/null
  cp "$RUN/conf/upstream.nginx.conf" "$OUT/conf/"
}

gb_gw_start() { # NAME BIN CONF PORT [WRAPPER...]: the gateway (or WRAPPER... gateway), pinned to the server CPU
  local name=$1 bin=$2 conf=$3 port=$4 pid; shift 4
  "$bin" -t -c "$conf" > "$RUN/logs/$name.check" 2>&1 || { cat "$RUN/logs/$name.check" >&2; pb_die "$name: gateway -t rejected $conf"; }
  $(pb_pin server) "$@" "$bin" -c "$conf" > "$RUN/logs/$name.log" 2>&1 </dev/null &
  pid=$!
  # Recorded at once, so that a failure below still stops it; once it listens, with the executable it
  # runs (a wrapper such as valgrind execs its tool), which pb_stop checks against PID reuse.
  echo "$pid" > "$RUN/pids/$name.pid"; STARTED+=("$name")
  pb_wait_port "$port" "${GB_START_TIMEOUT:-10}" || { tail -20 "$RUN/logs/$name.log" >&2; pb_die "$name did not listen on 127.0.0.1:$port"; }
  pb_alive "$pid" || { tail -20 "$RUN/logs/$name.log" >&2; pb_die "$name exited"; }
  pb_record_pid "$name" "$pid"
  cp "$conf" "$OUT/conf/$name.ini"
  pb_log "$name started pid $pid on 127.0.0.1:$port"
}

# One RS256 token with SCOPE, iss/aud/sub as peerbench's. Keys are made once (keys.sh) if missing.
gb_mint() { # OUTFILE SCOPE
  [ -f "$PB_KEYS/jwks.json" ] || "$PB_HOME/keys.sh" "$PB_KEYS" > "$RUN/logs/keys.log" 2>&1
  node "$PB_HOME/mint.js" --alg RS256 --key "$PB_KEYS/rsa_private.pem" --kid "$PB_RSA_KID" --iss "$PB_ISS" \
    --aud "$PB_AUD" --scope "$2" --sub "$PB_SUB" --exp "$PB_TOKEN_TTL" --count 1 --out "$1" >/dev/null
}

# The [resource] and [issuer:peerbench] sections of bench/run.sh's gateway-jwt.
gb_conf_issuer() { # PORT
  cat <<EOF
public_url = http://127.0.0.1:$1

[resource]
identifier = $PB_AUD
authorization_servers = $PB_ISS

[issuer:peerbench]
iss = $PB_ISS
jwks_file = $PB_KEYS/jwks.json
algorithms = RS256 ES256
audience = $PB_AUD
leeway = 0s
EOF
}

# The gateway of the MCP benches: one process, two upstreams on the same origin (UPSTREAM_PORT),
# /mcp with protocol = mcp and /plain with protocol = http, judged by POLICY_FILE; no access log.
gb_conf_mcp_plain() { # WHO PORT WORKERS UPSTREAM_PORT POLICY_FILE [MAX_CONNECTIONS]
  cat <<EOF
; rendered by $1
[server]
listen = 127.0.0.1:$2
workers = $3
${6:+max_connections = $6
}idle_timeout = 300s
drain_timeout = 2s
$(gb_conf_issuer "$2")

[upstream:mcp]
prefix = /mcp
url = http://127.0.0.1:$4
protocol = mcp

[upstream:plain]
prefix = /plain
url = http://127.0.0.1:$4
protocol = http

[policy]
file = $5

[log]
level = warn
access = off
EOF
}

gb_status() { curl -s -m 10 -o /dev/null -w '%{http_code}' "$@" 2>/dev/null || true; }
gb_expect() { # WHAT WANT curl-args... : dies unless the answer's status is WANT
  local what=$1 want=$2 got; shift 2
  got=$(gb_status "$@")
  [ "$got" = "$want" ] || pb_die "check failed: $what answered ${got:-nothing}, expected $want"
}

# One pinned wrk run against URL with SCRIPT; measures the CPU of PID (the gateway) and of the upstream
# over it and prints one JSON line: KEYS_JSON merged with req/s, latency, errors, CPU ns.
gb_wrk() { # KEYS_JSON PID URL SCRIPT SECONDS RAWFILE -- script args...
  local keys=$1 pid=$2 url=$3 script=$4 secs=$5 raw=$6 c0 c1 u0 u1 upid j non2xx line; shift 7
  upid=$(pb_pid upstream)
  c0=$(pb_cpu_ns "$pid"); u0=$(pb_cpu_ns "$upid")
  $(pb_pin client) wrk -t"${THREADS:-1}" -c"${CONNS:-64}" -d"${secs}s" --latency -s "$script" "$url" -- "$@" > "$raw" 2>&1 || true
  c1=$(pb_cpu_ns "$pid"); u1=$(pb_cpu_ns "$upid")
  pb_alive "$pid" || { tail -20 "$RUN/logs/"*.log >&2; pb_die "gateway pid $pid died during $url (raw: $raw)"; }
  j=$(sed -n 's/^PEERBENCH_JSON //p' "$raw")
  [ -n "$j" ] || { cat "$raw" >&2; pb_die "no PEERBENCH_JSON from wrk on $url"; }
  non2xx=$(awk '/Non-2xx or 3xx responses:/{print $NF}' "$raw"); non2xx=${non2xx:-0}
  line=$(node -e '
    const k = JSON.parse(process.argv[1]), w = JSON.parse(process.argv[2]);
    console.log(JSON.stringify({ ...k, rps: w.rps, requests: w.requests, p50_us: w.lat_p50_us, p99_us: w.lat_p99_us,
      errors: w.err_connect + w.err_read + w.err_write + w.err_timeout, non2xx: +process.argv[3],
      cpu_ns: +process.argv[4], up_cpu_ns: +process.argv[5] }));' "$keys" "$j" "$non2xx" "$((c1 - c0))" "$((u1 - u0))")
  echo "$line"
}

gb_show() { # JSON line of gb_wrk -> one readable line on stderr
  node -e 'const r = JSON.parse(process.argv[1]); console.error(`[round ${r.round}] ${r.target} ${r.side.padEnd(5)} ${String(Math.round(r.rps)).padStart(7)} req/s  p99 ${(r.p99_us / 1000).toFixed(2)} ms  gateway ${(r.cpu_ns / r.requests / 1000).toFixed(2)} µs/req  errors ${r.errors}  non-2xx ${r.non2xx}`)' "$1"
}

gb_env() { # extra lines...
  {
    echo "date: $(date -Is)"
    echo "host: $(uname -srm), $(nproc) CPUs, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
    echo "load before run: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "wrk: $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'), -t${THREADS:-1} -c${CONNS:-64}; nginx: $(nginx -v 2>&1 | sed 's/.*: //')"
    echo "pinning: PIN=$PIN server_cpu=$PB_SERVER_CPU (upstream + gateway) client_cpu=$PB_CLIENT_CPU (wrk)"
    echo "upstream: peerbench nginx on 127.0.0.1:$PB_UPSTREAM_PORT; run dir $RUN"
    printf '%s\n' "$@"
  } > "$OUT/env.txt"
  cat "$OUT/env.txt" >&2
}
