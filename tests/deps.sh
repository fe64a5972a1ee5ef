#!/usr/bin/env bash
# Installs the Debian packages that building, the demo and the tests need.
# Sourced by tests/demo.sh and tests/run-all.sh; does nothing when all are there.
lp_packages=(
  gcc clang libclang-rt-14-dev pkg-config meson ninja-build   # clang: fuzzers
  libfuse3-dev fuse3 libcurl4-openssl-dev libcjson-dev
  python3 python3-docutils                      # emulator; rst2man for the man page
  python3-pytest curl jq vim nano tmux attr     # the tools the tests drive
  python3-prometheus-client                     # parses .leadpipe/stats as Prometheus does
  man-db groff-base valgrind procps psmisc strace perl rsync
  openssl                                       # the test CA and its certificates (TLS)
  nghttp2-proxy                                 # nghttpx: HTTP/2 over TLS before the emulator
)

lp_install_deps() {
  local missing=()
  for p in "${lp_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${missing[*]} (run as root, or install them)" >&2
    return 1
  fi
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
