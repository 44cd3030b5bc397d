# contrib/deps.sh - the packages that building and running jarmsweep need, and the one
# function that installs packages. Sourced by contrib/run.sh, which installs RUN_DEPS, and by
# contrib/test.sh, which installs its own longer list (DEPS there: RUN_DEPS plus the
# sanitizer build and the servers and tools the tests start on loopback).
#
#   install_deps PKG...   install the packages that are missing, with apt-get (through sudo
#                         when not root); all output goes to stderr. Does nothing on a
#                         system without dpkg (then the packages are assumed present).

# Building and running: compiler, meson, the three libraries, python3 for meson.
RUN_DEPS=(
    meson
    ninja-build
    pkg-config
    gcc
    libuv1-dev
    libc-ares-dev
    libssl-dev
    python3
)

install_deps() {
    local missing=() pkg sudo=()
    if ! command -v dpkg >/dev/null 2>&1; then
        echo "deps: no dpkg: not a Debian system, assuming the dependencies are installed" >&2
        return 0
    fi
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    echo "deps: installing ${missing[*]}" >&2
    "${sudo[@]}" apt-get update -qq >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}
