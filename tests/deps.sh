#!/bin/sh
# Installs what the build and the tests need, only when something is missing.
set -e
pkgs="libuv1-dev libssl-dev libjwt-dev libinih-dev libjansson-dev node-llhttp pkg-config curl openssl clang libclang-rt-14-dev nginx redis-server libhiredis-dev"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
# systemd-analyze and systemd-socket-activate, for the unit-file tests
command -v systemd-analyze >/dev/null 2>&1 || missing="$missing systemd"
if [ -n "$missing" ]; then
  echo "make deps: installing$missing"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi
# The npm packages of package.json (the MCP SDK for tests/servers/mcp-server.js
# and the MCP tests, oidc-provider for tests/servers/demo-as.mjs), exactly as package-lock.json pins them.
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -d "$root/node_modules/@modelcontextprotocol/sdk" ] || [ ! -d "$root/node_modules/oidc-provider" ]; then
  command -v npm >/dev/null 2>&1 || {
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq npm
  }
  echo "make deps: npm ci"
  (cd "$root" && npm ci --no-audit --no-fund)
fi
