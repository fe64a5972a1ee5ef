#!/usr/bin/env bash
# The demo command (README): installs what is needed, builds leadpipefs and
# mounts it. With no LEADPIPE_API_KEY at hand it starts the bundled API
# emulator with sample audiences and mounts that.
#   tests/demo.sh [MOUNTPOINT]        mount (default /mnt/leadpipe)
#   tests/demo.sh stop [MOUNTPOINT]   unmount and stop the emulator
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
state=/run/leadpipefs-demo
[ -w /run ] || state=${XDG_RUNTIME_DIR:-/tmp}/leadpipefs-demo

stop() {
  local mnt=$1
  if mountpoint -q "$mnt"; then fusermount3 -u "$mnt" || fusermount3 -uz "$mnt"; fi
  if [ -f "$state/emulator.pid" ]; then
    kill "$(cat "$state/emulator.pid")" 2>/dev/null || true
    rm -f "$state/emulator.pid" "$state/port"
  fi
  echo "unmounted $mnt"
}

if [ "${1:-}" = stop ]; then
  stop "${2:-/mnt/leadpipe}"
  exit 0
fi
mnt=${1:-/mnt/leadpipe}

cd "$top"
. tests/deps.sh
lp_install_deps
if [ ! -f build/build.ninja ]; then
  meson setup build >/dev/null
fi
ninja -C build >/dev/null

mkdir -p "$mnt" "$state"
if mountpoint -q "$mnt"; then
  echo "$mnt is already mounted; run: $0 stop $mnt" >&2
  exit 1
fi

if [ -n "${LEADPIPE_API_KEY:-}" ]; then
  echo "LEADPIPE_API_KEY is set: mounting the real Leadpipe API"
  build/src/leadpipefs "$mnt"
else
  # The bundled emulator, with sample audiences, on a free loopback port.
  rm -f "$state/port"
  nohup /usr/bin/python3 tests/emulator/leadpipe_emu.py --sample --quiet \
    --port-file "$state/port" >"$state/emulator.log" 2>&1 &
  echo $! >"$state/emulator.pid"
  for _ in $(seq 100); do [ -s "$state/port" ] && break; sleep 0.1; done
  [ -s "$state/port" ] || { echo "the emulator did not start: $state/emulator.log" >&2; exit 1; }
  LEADPIPE_API_KEY=sk_test_emulator build/src/leadpipefs \
    -o "base_url=http://127.0.0.1:$(cat "$state/port")" "$mnt"
fi

echo
echo "leadpipefs is mounted on $mnt. Try:"
echo "  ls $mnt"
echo "  cat \"$mnt/Marketing Directors at Tech Companies/config.json\""
echo "  grep -l active $mnt/*/status"
echo "  echo active > \"$mnt/CISOs — DACH/status\""
echo "  ls $mnt/*/runs/                     # the runs of the active audiences"
echo "  head -3 $mnt/*/runs/latest/results.csv"
echo "  jq .slots $mnt/.leadpipe/account.json"
echo "Unmount with:  $0 stop $mnt   (or: fusermount3 -u $mnt)"
