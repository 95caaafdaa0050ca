#!/bin/sh
# Builds the libFuzzer drivers of tests/fuzz/ into build-fuzz/ and runs each
# for a bounded time. Usage (from anywhere):
#
#   sh tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#
# SECONDS_PER_TARGET defaults to 10; TARGETs default to all of them
# (headscan request pathnorm jwt jsonobj jwks policy m2m_req jsonrpc sse mcplist revoke). Prints one TAP line per target:
#   ok N - fuzz TARGET: R runs in S s
#   not ok N - fuzz TARGET: <crash summary>
# followed, on failure, by "#"-prefixed lines with the reproducer path and
# the top of the report. Exit status is non-zero when any target failed to
# build, crashed, leaked, timed out or ran out of memory.
#
# Seeds come from tests/fuzz/corpus/TARGET/ (read only); what a run
# discovers goes to build-fuzz/corpus/TARGET/, crash inputs to
# build-fuzz/artifacts/TARGET/. Inputs kept under tests/fuzz/crashes/TARGET/
# (known findings) are replayed first; one that still fails fails the target.
# Needs clang with libFuzzer (clang 14 is what this was written against).
cd "$(dirname "$0")/../.." || exit 2

secs=${1:-10}
case $secs in '' | *[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 2 ;; esac
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- headscan request pathnorm jwt jsonobj jwks policy m2m_req jsonrpc sse mcplist revoke

CC=${FUZZ_CC:-clang}
OUT=build-fuzz
CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -I gateway/lib -isystem /usr/share/include/llhttp"
LIBS="-lcrypto -ljansson -linih"
LLHTTP_DIR=/usr/share/llhttp

# The gateway sources each driver needs.
sources() {
  case $1 in
  headscan) echo gateway/lib/http.c ;;
  request) echo gateway/lib/reqhead.c gateway/lib/http.c ;;
  pathnorm) echo gateway/lib/pathnorm.c ;;
  jwt) echo gateway/lib/jwt.c gateway/lib/jwks.c gateway/lib/jsonobj.c gateway/lib/b64url.c gateway/lib/scopes.c ;;
  jsonobj) echo gateway/lib/jsonobj.c ;;
  jwks) echo gateway/lib/jwks.c gateway/lib/b64url.c ;;
  m2m_req) echo gateway/lib/m2m_req.c ;;
  jsonrpc) echo gateway/lib/jsonrpc.c ;;
  sse) echo gateway/lib/sse.c gateway/lib/buf.c ;;
  revoke) echo gateway/lib/revoke.c ;;
  mcplist) echo gateway/lib/mcplist.c gateway/lib/jsonrpc.c gateway/lib/buf.c gateway/lib/log.c gateway/lib/logring.c ;;
  policy) echo gateway/lib/policy.c gateway/lib/policy_mcp.c gateway/lib/ratelimit.c gateway/lib/pathnorm.c gateway/lib/scopes.c gateway/lib/cfgini.c gateway/lib/cfgval.c gateway/lib/errs.c gateway/lib/log.c gateway/lib/logring.c ;;
  *) return 1 ;;
  esac
}

# Sanitizer settings of our own, whatever the caller exported (tests/run.sh
# sends reports to files, which would hide them from the summary here).
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:symbolize=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

mkdir -p "$OUT/llhttp" "$OUT/logs" || exit 2

# llhttp (Debian's C sources) compiled once, without warnings; its http.c is
# renamed so that it cannot clash with gateway/lib/http.c. With SSE4.2 when this
# CPU has it, as the Makefile builds the gateway (the fuzzed llhttp is then
# the one that runs); the flag is part of the object's name.
LLHTTP_SIMD=${LLHTTP_SIMD-$(grep -qw sse4_2 /proc/cpuinfo 2>/dev/null && echo -msse4.2)}
llhttp_objs=""
llhttp_ok=1
for f in api http llhttp; do
  o="$OUT/llhttp/llhttp_$f${LLHTTP_SIMD:+-sse42}.o"
  if [ ! -f "$o" ] || [ "$LLHTTP_DIR/$f.c" -nt "$o" ]; then
    $CC $CFLAGS $LLHTTP_SIMD -w -c -o "$o" "$LLHTTP_DIR/$f.c" > "$OUT/logs/llhttp_$f.build.log" 2>&1 || llhttp_ok=0
  fi
  llhttp_objs="$llhttp_objs $o"
done

n=0
failed=0
for t in "$@"; do
  n=$((n + 1))
  src=$(sources "$t") || { echo "not ok $n - fuzz $t: unknown target"; failed=$((failed + 1)); continue; }
  bin="$OUT/fuzz_$t"
  blog="$OUT/logs/$t.build.log"
  extra=""
  if [ "$t" = request ]; then
    if [ $llhttp_ok -ne 1 ]; then
      echo "not ok $n - fuzz $t: llhttp build failed (see $OUT/logs/llhttp_*.build.log)"
      failed=$((failed + 1))
      continue
    fi
    extra=$llhttp_objs
  fi
  # shellcheck disable=SC2086
  if ! $CC $CFLAGS -o "$bin" "tests/fuzz/fuzz_$t.c" $src $extra $LIBS > "$blog" 2>&1; then
    echo "not ok $n - fuzz $t: build failed"
    sed 's/^/#   /' "$blog" | head -30
    failed=$((failed + 1))
    continue
  fi

  # Known findings first: each must no longer fail.
  known_bad=""
  if [ -d "tests/fuzz/crashes/$t" ]; then
    for c in "tests/fuzz/crashes/$t"/*; do
      [ -f "$c" ] || continue
      case $c in *.md | *.txt) continue ;; esac
      "$bin" -runs=1 "$c" > "$OUT/logs/$t.replay.log" 2>&1 || { known_bad=$c; break; }
    done
  fi
  if [ -n "$known_bad" ]; then
    summary=$(grep -m1 '^SUMMARY:' "$OUT/logs/$t.replay.log" | sed 's/^SUMMARY: //')
    echo "not ok $n - fuzz $t: known reproducer still fails: ${summary:-exit non-zero}"
    echo "#   reproducer: $known_bad"
    echo "#   replay:     $bin $known_bad"
    failed=$((failed + 1))
    continue
  fi

  scratch="$OUT/corpus/$t"
  arts="$OUT/artifacts/$t"
  log="$OUT/logs/$t.log"
  mkdir -p "$scratch" "$arts"
  seeds="tests/fuzz/corpus/$t"
  [ -d "$seeds" ] || seeds=""
  # shellcheck disable=SC2086
  "$bin" -max_total_time="$secs" -rss_limit_mb=1024 -timeout=5 -print_final_stats=1 \
    -artifact_prefix="$arts/" "$scratch" $seeds > "$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  if [ $rc -eq 0 ] && grep -q '^Done [0-9]* runs' "$log"; then
    echo "ok $n - fuzz $t: ${runs:-?} runs in ${took:-$secs} s"
    continue
  fi
  failed=$((failed + 1))
  repro=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
  summary=$(grep -m1 '^SUMMARY:' "$log" | sed 's/^SUMMARY: //')
  [ -n "$summary" ] || summary=$(grep -m1 -E 'ERROR: libFuzzer|ERROR: AddressSanitizer|runtime error' "$log")
  where=$(grep -m1 -E '#[0-9]+ 0x[0-9a-f]+ in .*(tests/fuzz|gateway)/' "$log" |
          sed 's/.* in \([^ ]*\) .*\/\(\(tests\/fuzz\|gateway\)\/[^ ]*\).*/\1 \2/')
  echo "not ok $n - fuzz $t: ${summary:-exit $rc}${where:+ at $where}"
  [ -n "$repro" ] && echo "#   reproducer: $repro" && echo "#   replay:     $bin $repro"
  echo "#   log:        $log"
  grep -E -m12 'ERROR|runtime error|^ *#[0-9]+ ' "$log" | sed 's/^/#   /'
done
[ "$failed" -eq 0 ]
