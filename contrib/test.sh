#!/usr/bin/env bash
# contrib/test.sh - install the build dependencies, build three trees, run the tests, count.
#
#   build-ci       gcc, debugoptimized, -Dwerror=true: every suite
#   build-ci-asan  clang, debug, AddressSanitizer + UndefinedBehaviorSanitizer, -Dwerror=true:
#                  every suite
#   build-ci-tsan  clang, debug, ThreadSanitizer, -Dwerror=true: the tests that run threads
#
# Runs every meson test suite except 'live' (benchmarks are built, not run) with sanitizer
# findings made fatal, and ends with exactly one line "N passed, M failed" summed over the
# trees (a test that times out or errors counts as failed, a skipped test as neither, a
# build that fails as one failure). The exit status is non-zero when M > 0. Needs
# Debian/Ubuntu packages (DEPS below); installs missing ones with apt-get (install_deps of
# contrib/deps.sh, through sudo when not root). Run from anywhere; everything it reads is in
# the source tree.
#
# Environment: MESON_EXTRA  extra `meson setup` options for every tree (word-split)
#              JOBS         parallel test processes (default: meson's choice)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

DEPS=(meson ninja-build pkg-config gcc clang libuv1-dev libc-ares-dev libssl-dev openssl
      python3 dnsmasq-base iproute2 libclang-rt-14-dev microsocks haproxy iptables
      squid-openssl nginx)

# shellcheck source=contrib/deps.sh
. contrib/deps.sh   # install_deps, RUN_DEPS

log() { printf '== %s\n' "$*" >&2; }

# setup DIR CC OPTION... : configure DIR (reconfigure if it is already a build tree).
setup() {
    local dir=$1 cc=$2
    shift 2
    if [ -f "$dir/meson-private/coredata.dat" ]; then
        CC=$cc meson setup --reconfigure "$dir" "$@" ${MESON_EXTRA:-}
    else
        rm -rf "$dir"
        CC=$cc meson setup "$dir" "$@" ${MESON_EXTRA:-}
    fi
}

# count DIR : print "passed failed" from DIR/meson-logs/testlog.json.
count() {
    python3 - "$1/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = 0
try:
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            result = json.loads(line).get("result", "")
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result != "SKIP":  # FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS, ...
                failed += 1
except FileNotFoundError:
    pass  # no tests defined
print(passed, failed)
PY
}

export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
ONLY=() # test names for the next tree (empty: every suite but 'live')

total_pass=0
total_fail=0
start=$(date +%s)

# run_tree DIR CC TIMEOUT_MULTIPLIER OPTION... : build DIR and run its tests.
run_tree() {
    local dir=$1 cc=$2 mult=$3 p f jobs=()
    shift 3
    log "$dir: configure ($cc $*)"
    if ! setup "$dir" "$cc" "$@" || ! { log "$dir: build"; ninja -C "$dir"; }; then
        log "$dir: BUILD FAILED"
        total_fail=$((total_fail + 1))
        return 0
    fi
    log "$dir: test"
    rm -f "$dir/meson-logs/testlog.json"
    [ -n "${JOBS:-}" ] && jobs=(--num-processes "$JOBS")
    meson test -C "$dir" --no-rebuild --no-suite live --print-errorlogs \
        --timeout-multiplier "$mult" "${jobs[@]}" "${ONLY[@]}" || true
    read -r p f < <(count "$dir")
    log "$dir: $p passed, $f failed"
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
}

DEPS+=(python3-venv)   # the fresh virtual environment of the pip install test
install_deps "${RUN_DEPS[@]}" "${DEPS[@]}"
run_tree build-ci gcc 1 -Dbuildtype=debugoptimized -Dwerror=true -Dtests=true
run_tree build-ci-asan clang 10 -Dbuildtype=debug -Dwerror=true -Dtests=true \
    -Db_sanitize=address,undefined -Db_lundef=false
# ThreadSanitizer on the tests that run the threads: the input reader, the output writer,
# the resolver on the loop beside them, the public scanner and the stress mix.
ONLY=(cli robust names test_resolver test_scanner stress)
run_tree build-ci-tsan clang 10 -Dbuildtype=debug -Dwerror=true -Dtests=true \
    -Db_sanitize=thread -Db_lundef=false
ONLY=()
log "done in $(($(date +%s) - start)) s"

echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
