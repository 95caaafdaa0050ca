#!/bin/sh
# Installs what the build and the tests need, only when something is missing.
set -e
pkgs="libuv1-dev libssl-dev libjwt-dev libinih-dev libjansson-dev node-llhttp pkg-config curl openssl clang libclang-rt-14-dev nginx libhiredis-dev redis-server"
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
# promtool, for tests/integration/promtool.test.js (`promtool check metrics`).
# Debian ships it only in the prometheus package, whose installation starts
# a Prometheus server and pulls much more: take the one binary out of the
# .deb into build/.promtool/ instead. Offline or failing, this is not an
# error here: the test then falls back to its own format check and says so
# (under CI=true it fails instead).
promdir="$root/build/.promtool"
if [ ! -x "$promdir/promtool" ] && ! command -v promtool >/dev/null 2>&1; then
  # (set -e does not apply inside an if condition: every step is chained)
  if (
    rm -rf "$promdir/deb" && mkdir -p "$promdir/deb" && cd "$promdir/deb" &&
    { apt-get download prometheus >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && apt-get download prometheus >/dev/null 2>&1; }; } &&
    dpkg-deb -x prometheus_*.deb x &&
    cp x/usr/bin/promtool "$promdir/promtool.tmp" && mv "$promdir/promtool.tmp" "$promdir/promtool" &&
    "$promdir/promtool" --version >/dev/null 2>&1
  ); then
    echo "make deps: promtool taken from Debian's prometheus package into $promdir"
  else
    rm -f "$promdir/promtool"
    echo "make deps: promtool not available (offline?); the promtool test falls back to its own format check"
  fi
  rm -rf "$promdir/deb"
fi
