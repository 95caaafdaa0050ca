#!/bin/sh
# `make run`: the embedded default. Starts the bundled demo upstreams (REST on
# 127.0.0.1:9001, a real MCP server built with the official SDK on
# 127.0.0.1:9002), the demo OAuth authorization server (127.0.0.1:9003) and
# the gateway on 127.0.0.1:8080 with conf/gateway.ini, prints what to curl and
# how to connect an MCP client, and stops everything it started (by PID) when
# the gateway exits or on Ctrl-C. The Node parts need `npm ci` (make deps).
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
# wait_ok URL PID MESSAGE: until URL answers 2xx, for 10 s at most, while PID runs.
wait_ok() {
  i=0
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -gt 100 ] || ! kill -0 "$2" 2>/dev/null; then
      echo "$3" >&2
      exit 2
    fi
    sleep 0.1
  done
}
trap 'exit 130' INT TERM

# Something already listening on one of our ports would answer the readiness
# check below in our gateway's place (or take its traffic): refuse to start.
# curl's exit 7 is "connection refused", i.e. the port is free.
for port in 8080 9901 9001 9002 9003; do
  curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/" 2>/dev/null
  if [ $? -ne 7 ]; then
    echo "make run: 127.0.0.1:$port is already in use by another process" >&2
    exit 2
  fi
done

node tests/servers/upstream.js --demo --port 9001 > /dev/null &
pids="$pids $!"
node tests/servers/mcp-server.js --port 9002 > /dev/null &
pids="$pids $!"
node tests/servers/demo-as.mjs --port 9003 > /dev/null 2>&1 &
das=$!
pids="$pids $das"
# The gateway fetches the demo issuer's keys when it starts: let it be there.
wait_ok http://127.0.0.1:9003/jwks "$das" \
  "the demo authorization server did not start (run npm ci, or make deps)"
"$GW" -t -c "$CONF" || exit 1
"$GW" -c "$CONF" &
gw=$!
pids="$gw $pids"
wait_ok http://127.0.0.1:9901/readyz "$gw" "gateway did not become ready"
# The answer must have come from the gateway started here, still running.
if ! kill -0 "$gw" 2>/dev/null; then
  wait "$gw"
  rc=$?
  echo "gateway exited ($rc)" >&2
  exit "$rc"
fi
cat <<'MSG'

  The gateway is up on http://127.0.0.1:8080 (admin: http://127.0.0.1:9901),
  in front of demo upstreams on :9001 (REST) and :9002 (an MCP server), with
  the demo OAuth authorization server on http://127.0.0.1:9003
  (user demo-user, password demo-password). In another shell:

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

  MCP: connect a client to http://127.0.0.1:8080/mcp. It gets a 401, finds
  the authorization server in /.well-known/oauth-protected-resource/mcp,
  and signs in there (demo-user / demo-password) or uses demo / demo-secret:

    npx @modelcontextprotocol/inspector     # Transport: Streamable HTTP,
                                            # URL http://127.0.0.1:8080/mcp

    // Node, official SDK (@modelcontextprotocol/sdk), machine to machine:
    import { Client } from '@modelcontextprotocol/sdk/client/index.js';
    import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
    import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
    const authProvider = new ClientCredentialsProvider(
      { clientId: 'demo', clientSecret: 'demo-secret', scope: 'profiles:read tags:manage',
        expectedIssuer: 'http://127.0.0.1:9003' });
    const client = new Client({ name: 'demo', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(
      new URL('http://127.0.0.1:8080/mcp'), { authProvider }));
    console.log(await client.callTool({ name: 'list_profiles', arguments: {} }));

  Ctrl-C stops the gateway, the demo upstreams and the authorization server.

MSG
wait "$gw"
