#!/usr/bin/env bash
# contrib/run.sh ARGS... - build a release jarmsweep if needed, then run it with ARGS.
#
# Installs missing build dependencies (RUN_DEPS of contrib/deps.sh) with apt-get, configures
# build-release (buildtype=release, no tests, no benchmarks) once, rebuilds it quietly when
# sources changed, and execs build-release/src/jarmsweep "$@". All build output goes to
# stderr, so stdout carries only jarmsweep's own output. Works from any directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-release"

# shellcheck source=contrib/deps.sh
. "$root/contrib/deps.sh"

{
    install_deps "${RUN_DEPS[@]}"
    if [ ! -f "$build/meson-private/coredata.dat" ]; then
        rm -rf "$build"
        meson setup "$build" "$root" -Dbuildtype=release -Dtests=false -Dbench=false
    fi
    if ! out=$(ninja -C "$build" --quiet 2>&1); then
        printf '%s\n' "$out"
        exit 1
    fi
    # Show what the build said, except the line of an up-to-date tree.
    out=$(printf '%s\n' "$out" | grep -v -e '^ninja: no work to do\.$' -e '^ninja: Entering directory' || true)
    [ -z "$out" ] || printf '%s\n' "$out"
} >&2

exec "$build/src/jarmsweep" "$@"
