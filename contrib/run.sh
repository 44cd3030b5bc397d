#!/usr/bin/env bash
# contrib/run.sh ARGS... - build a release jarmsweep if needed, then run it with ARGS.
#
# Installs missing build dependencies with apt-get (through sudo when not root), configures
# build-release (buildtype=release, no tests, no benchmarks) once, rebuilds it quietly when
# sources changed, and execs build-release/src/jarmsweep "$@". All build output goes to
# stderr, so stdout carries only jarmsweep's own output. Works from any directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-release"

DEPS=(meson ninja-build pkg-config gcc clang libuv1-dev libc-ares-dev libssl-dev openssl
      python3 dnsmasq-base iproute2 libclang-rt-14-dev)

install_deps() {
    local missing=() pkg sudo=()
    command -v dpkg >/dev/null 2>&1 || return 0
    for pkg in "${DEPS[@]}"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    echo "run.sh: installing ${missing[*]}" >&2
    "${sudo[@]}" apt-get update -qq >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

{
    install_deps
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
