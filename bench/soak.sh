#!/bin/sh
# Soak: SOAK_SECONDS (default 600) of mixed load against one gateway, RSS
# sampled each second (bench/soak.js says what the load is). Not part of
# make test. Usage: bench/soak.sh [GATEWAY_BIN]   e.g. bench/soak.sh build-asan/gateway
set -eu
cd "$(dirname "$0")/.."
GATEWAY_BIN=$(realpath "${1:-${GATEWAY_BIN:-build/gateway}}")
export GATEWAY_BIN
SOAK_SAN_DIR=$(mktemp -d /tmp/gw-soak-san.XXXXXX)
export SOAK_SAN_DIR
export ASAN_OPTIONS="log_path=$SOAK_SAN_DIR/asan:detect_leaks=1"
export UBSAN_OPTIONS="log_path=$SOAK_SAN_DIR/ubsan:print_stacktrace=1"
rc=0
node bench/soak.js || rc=$?
rm -rf "$SOAK_SAN_DIR"
exit $rc
