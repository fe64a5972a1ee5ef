#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what is needed, builds
# leadpipefs twice -- plain with -Dwerror=true, then with ASan+UBSan -- and runs
# the whole suite in each build. Ends with one "N passed, N failed" line.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. tests/deps.sh
lp_install_deps

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export LSAN_OPTIONS=suppressions=$top/tests/lsan.supp:print_suppressions=0

passed=0 failed=0 skipped=0 status=0
run_suite() { # NAME BUILDDIR MESON-OPTIONS...
  local name=$1 dir=$2
  shift 2
  echo "=== $name: build ($*)"
  rm -rf "$dir"
  meson setup "$dir" -Dwerror=true "$@" >/dev/null
  ninja -C "$dir"
  echo "=== $name: test"
  meson test -C "$dir" --print-errorlogs --num-processes 2 || status=1
  # Count the outcomes from meson's machine-readable log.
  read -r p f s < <(/usr/bin/python3 - "$dir/meson-logs/testlog.json" <<'PY'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    r = json.loads(line).get("result")
    if r in ("OK", "EXPECTEDFAIL"): p += 1
    elif r == "SKIP": s += 1
    else: f += 1
print(p, f, s)
PY
)
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}

run_suite plain build-ci
run_suite "asan+ubsan" build-ci-asan -Db_sanitize=address,undefined -Db_lundef=false

# Every parser of outside input under libFuzzer for a short fixed time; the
# README says how to run them longer (tests/fuzz/run SECONDS).
echo "=== fuzz: ${LP_FUZZ_SECONDS:-20} s per target"
if LP_FUZZ_BUILD=$top/build-ci-fuzz bash tests/fuzz/run "${LP_FUZZ_SECONDS:-20}"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)) status=1
fi

echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $status
