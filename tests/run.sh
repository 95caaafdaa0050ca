#!/bin/sh
# Runs every test against each build directory given (default: build) and
# ends with one line "N passed, M failed". Exit status is non-zero on any
# failure. Unit tests print TAP; integration tests run under node's test
# runner with the TAP reporter, each file in its own process.
cd "$(dirname "$0")/.." || exit 2
[ $# -gt 0 ] || set -- build
total_pass=0 total_fail=0 total_skip=0
log_dir=${TMPDIR:-/tmp}/gateway-tests.$$
mkdir -p "$log_dir"

count() { # FILE -> sets p f s from TAP lines
  p=$(grep -Ec '^ok [0-9]+' "$1" | head -1)
  f=$(grep -Ec '^not ok [0-9]+' "$1" | head -1)
  s=$(grep -Ec '^ok [0-9]+ .*# (SKIP|TODO)' "$1" | head -1)
}

for b in "$@"; do
  [ -x "$b/gateway" ] || { echo "not ok - $b/gateway missing (build first)"; total_fail=$((total_fail + 1)); continue; }
  echo "# ===== suite on $b ====="
  # Sanitizer reports of any process of this suite (the gateway included,
  # which the tests stop with SIGTERM) land in files: each one is a failure.
  san_dir="$log_dir/sanitizer-$(basename "$b")"
  mkdir -p "$san_dir"
  export ASAN_OPTIONS="log_path=$san_dir/asan:detect_leaks=1"
  export UBSAN_OPTIONS="log_path=$san_dir/ubsan:print_stacktrace=1:halt_on_error=1"
  for t in "$b"/tests/test_*; do
    [ -x "$t" ] || continue
    out="$log_dir/$(basename "$b")-$(basename "$t").tap"
    timeout 120 "$t" > "$out" 2>&1; rc=$?
    count "$out"
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "not ok - $t exited $rc" >> "$out"; fi
    echo "# unit $(basename "$t"): $((p - s)) passed, $f failed"
    [ "$f" -eq 0 ] || grep -E -A3 '^not ok' "$out" | sed 's/^/#   /'
    total_pass=$((total_pass + p - s)); total_fail=$((total_fail + f)); total_skip=$((total_skip + s))
  done
  for t in tests/integration/*.test.js; do
    [ -f "$t" ] || continue
    out="$log_dir/$(basename "$b")-$(basename "$t").tap"
    t0=$(date +%s)
    GATEWAY_BIN="$PWD/$b/gateway" timeout 300 node --test --test-reporter=tap "$t" > "$out" 2>&1; rc=$?
    secs=$(( $(date +%s) - t0 ))
    p=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$out" | tail -1); p=${p:-0}
    f=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$out" | tail -1); f=${f:-0}
    s=$(sed -n 's/^# skipped \([0-9]*\)$/\1/p' "$out" | tail -1); s=${s:-0}
    c=$(sed -n 's/^# cancelled \([0-9]*\)$/\1/p' "$out" | tail -1); c=${c:-0}
    f=$((f + c))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    echo "# integration $(basename "$t"): $p passed, $f failed${s:+, $s skipped} (${secs} s)"
    [ "$f" -eq 0 ] || grep -E -B2 -A25 '^ *not ok' "$out" | head -120 | sed 's/^/#   /'
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f)); total_skip=$((total_skip + s))
  done
  reports=$(ls "$san_dir" 2>/dev/null | wc -l)
  if [ "$reports" -gt 0 ]; then
    echo "not ok - $reports sanitizer report(s) from the suite on $b:"
    for r in "$san_dir"/*; do sed 's/^/#   /' "$r" | head -60; done
    total_fail=$((total_fail + reports))
  elif nm "$b/gateway" 2>/dev/null | grep -q __asan_init; then
    echo "ok - sanitizers: no reports from the suite on $b"
    total_pass=$((total_pass + 1))
  fi
  unset ASAN_OPTIONS UBSAN_OPTIONS
done
# The map of gateway/ (gateway/README.md) as include and size checks: once,
# whatever the builds.
out="$log_dir/layout.tap"
node --test --test-reporter=tap tests/layout/ > "$out" 2>&1; rc=$?
p=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$out" | tail -1); p=${p:-0}
f=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$out" | tail -1); f=${f:-0}
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
echo "# layout (tests/layout): $p passed, $f failed"
[ "$f" -eq 0 ] || grep -E -A6 '^not ok' "$out" | sed 's/^/#   /'
total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
# A short fuzzing pass (FUZZ_SECONDS per target) as a regression check of the
# parsers; tests/fuzz/run.sh prints one TAP line per target.
if [ -n "${FUZZ_SECONDS:-}" ]; then
  out="$log_dir/fuzz.tap"
  sh tests/fuzz/run.sh "$FUZZ_SECONDS" > "$out" 2>&1; rc=$?
  count "$out"
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  echo "# fuzz (${FUZZ_SECONDS}s per target): $p passed, $f failed"
  [ "$f" -eq 0 ] || grep -E -A6 '^not ok' "$out" | sed 's/^/#   /'
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
fi
rm -rf "$log_dir"
if [ "$total_skip" -gt 0 ]; then
  echo "$total_pass passed, $total_fail failed, $total_skip skipped"
else
  echo "$total_pass passed, $total_fail failed"
fi
[ "$total_fail" -eq 0 ]
