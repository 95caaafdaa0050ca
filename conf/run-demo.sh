#!/bin/sh
# `make run`: the embedded default. Starts the bundled demo upstreams (REST on
# 127.0.0.1:9001, MCP on 127.0.0.1:9002) and the gateway on 127.0.0.1:8080
# with conf/gateway.ini, prints what to curl, and stops everything it started
# (by PID) when the gateway exits or on Ctrl-C.
set -u
cd "$(dirname "$0")/.." || exit 2
GW=${GATEWAY_BIN:-build/gateway}
CONF=${GATEWAY_CONF:-conf/gateway.ini}
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null; done
  for p in $pids; do wait "$p" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Something already listening on one of our ports would answer the readiness
# check below in our gateway's place (or take its traffic): refuse to start.
# curl's exit 7 is "connection refused", i.e. the port is free.
for port in 8080 9901 9001 9002; do
  curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/" 2>/dev/null
  if [ $? -ne 7 ]; then
    echo "make run: 127.0.0.1:$port is already in use by another process" >&2
    exit 2
  fi
done

for port in 9001 9002; do
  node tests/servers/upstream.js --demo --port "$port" > /dev/null &
  pids="$pids $!"
done
"$GW" -t -c "$CONF" || exit 1
"$GW" -c "$CONF" &
gw=$!
pids="$gw $pids"
i=0
until curl -fsS -o /dev/null http://127.0.0.1:9901/readyz 2>/dev/null; do
  i=$((i + 1))
  if [ "$i" -gt 100 ] || ! kill -0 "$gw" 2>/dev/null; then
    echo "gateway did not become ready" >&2
    exit 2
  fi
  sleep 0.1
done
# The answer must have come from the gateway started here, still running.
if ! kill -0 "$gw" 2>/dev/null; then
  wait "$gw"
  rc=$?
  echo "gateway exited ($rc)" >&2
  exit "$rc"
fi
cat <<'MSG'

  The gateway is up on http://127.0.0.1:8080 (admin: http://127.0.0.1:9901),
  in front of demo upstreams on :9001 (REST) and :9002 (MCP). In another shell:

    # discovery, and the 401 challenge that points at it
    curl -s http://127.0.0.1:8080/.well-known/oauth-protected-resource
    curl -i http://127.0.0.1:8080/api/v4/profiles

    # an M2M token, as the docs say (JSON body, or HTTP Basic)
    curl -s -X POST http://127.0.0.1:8080/api/v4/auth -H 'Content-Type: application/json' \
         -d '{"grant_type": "client_credentials", "client_id": "demo", "client_secret": "demo-secret"}'
    TOKEN=$(curl -s -X POST -u demo:demo-secret http://127.0.0.1:8080/api/v4/auth \
            | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
    curl --request POST --url http://127.0.0.1:8080/api/v4/test \
         --header "Authorization: Bearer $TOKEN" --header 'Content-Type: application/json' \
         --data '{"ping": "pong"}'
    curl -s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/api/v4/profiles

    # 403 insufficient_scope: creating a profile needs profiles:write
    curl -i -X POST -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/api/v4/profiles

    # a user token signed with the development keys of conf/dev/
    node conf/dev/mint-token.js --scope "profiles:read account:read"

    curl -s http://127.0.0.1:9901/readyz

  Ctrl-C stops the gateway and the demo upstreams.

MSG
wait "$gw"
