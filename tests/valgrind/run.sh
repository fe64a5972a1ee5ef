#!/bin/bash
# run.sh - runs leadpipefs under valgrind (memcheck) against the emulator and
# fails on any memory error or definite leak.
#
# Usage: tests/valgrind/run.sh LEADPIPEFS_BINARY EMULATOR_PY
# Builds nothing. Needs root (or FUSE for the user), valgrind, fusermount3.
# Mounts in the foreground (-f) under valgrind, lists, reads, writes status and
# config, makes an audience (mkdir + cp config), removes it (rmdir), goes
# through a few error paths (refused write, 5xx retries, a dropped connection),
# unmounts, then checks valgrind's exit status and its summary. The whole log
# is printed when something is wrong. Exit 0 ok, 1 failure, 77 skipped.
set -u

bin=${1:?usage: run.sh LEADPIPEFS EMULATOR_PY}
emu=${2:?usage: run.sh LEADPIPEFS EMULATOR_PY}
key=sk_test_emulator
python=/usr/bin/python3

command -v valgrind >/dev/null || { echo "valgrind not installed: skipped"; exit 77; }
[ -e /dev/fuse ] || { echo "no /dev/fuse: skipped"; exit 77; }

work=$(mktemp -d /var/tmp/lp-valgrind-XXXXXX)
mnt=$work/mnt
mkdir "$mnt"
emu_pid=
vg_pid=

cleanup() {
    if mountpoint -q "$mnt"; then
        fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt"
    fi
    [ -n "$vg_pid" ] && kill "$vg_pid" 2>/dev/null
    [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    echo "----- valgrind log -----"
    cat "$work/valgrind.log" 2>/dev/null
    echo "----- leadpipefs stderr -----"
    cat "$work/stderr" 2>/dev/null
    exit 1
}

# One control request to the emulator: ctl METHOD PATH [JSON].
ctl() {
    "$python" - "$port" "$@" <<'PY'
import sys, urllib.request
port, method, path = sys.argv[1:4]
data = sys.argv[4].encode() if len(sys.argv) > 4 else None
req = urllib.request.Request("http://127.0.0.1:%s%s" % (port, path), data=data, method=method,
                             headers={"content-type": "application/json"})
print(urllib.request.urlopen(req, timeout=30).read().decode())
PY
}

"$python" "$emu" --port-file "$work/port" --quiet --seed 5 &
emu_pid=$!
for _ in $(seq 150); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || fail "the emulator did not start"
port=$(cat "$work/port")

XDG_CACHE_HOME=$work/cache LEADPIPE_API_KEY=$key valgrind --leak-check=full --errors-for-leak-kinds=definite \
    --error-exitcode=99 --track-fds=no --num-callers=30 --log-file="$work/valgrind.log" \
    "$bin" -f -o "base_url=http://127.0.0.1:$port,cache_timeout=1,timeout=10,tries=3" "$mnt" \
    2>"$work/stderr" &
vg_pid=$!
for _ in $(seq 1200); do
    mountpoint -q "$mnt" && break
    kill -0 "$vg_pid" 2>/dev/null || fail "leadpipefs ended before mounting"
    sleep 0.1
done
mountpoint -q "$mnt" || fail "no mount after 120 s"

A="$mnt/Audience 00001"
B="$mnt/Audience 00002"
cat > "$work/cfg.json" <<'JSON'
{"topicIds": [117805, 117890], "minScore": 65, "maxScore": 95, "minTopicOverlap": 1,
 "filters": {"role.seniority": {"values": ["vp", "c_suite"]}}}
JSON

step() { "$@" >/dev/null 2>&1 || fail "step failed: $*"; }
step_fails() { ! "$@" >/dev/null 2>&1 || fail "step should have failed: $*"; }

# list and read
step ls -l "$mnt"
[ "$(ls "$mnt" | wc -l)" = 5 ] || fail "ls shows $(ls "$mnt" | wc -l) audiences, want 5"
step cat "$A/status" "$A/size" "$A/config.json"
step getfattr -d "$A"
step cat "$mnt"/*/config.json          # several misses in a row: the prefetch sweep
# Short reads from several processes at once: each close (RELEASE) races the
# reply to the read before it, in another daemon thread.
for _ in 1 2 3 4; do
    (for _ in $(seq 30); do cat "$A/status" "$A/config.json" >/dev/null || exit 1; done) &
done
for _ in 1 2 3 4; do wait -n || fail "concurrent reads failed"; done
# write status and config
step bash -c "echo paused > '$A/status'"
[ "$(cat "$A/status")" = paused ] || fail "status did not change"
step cp "$work/cfg.json" "$A/config.json"
# an editor's way: scratch file renamed onto config.json
step sed -i 's/"minScore": 65/"minScore": 66/' "$A/config.json"
grep -q '"minScore": 66' "$A/config.json" || fail "sed -i did not save"
# create and remove an audience
step mkdir "$mnt/Valgrind new"
step cp "$work/cfg.json" "$mnt/Valgrind new/config.json"
step rmdir "$mnt/Valgrind new"
step mv "$B" "$mnt/Renamed by valgrind"
# error paths: refused input, retried 5xx, a dropped answer, an unusable answer
step_fails bash -c "/usr/bin/printf '{\"topicIds\": [' > '$A/config.json'"
step_fails bash -c "echo sideways > '$A/status'"
step ctl POST /_emu/faults '{"kind":"status","status":503,"count":2}'
step bash -c "echo active > '$A/status'"
step ctl POST /_emu/faults '{"kind":"drop","count":1}'
sleep 1.2
step ls "$mnt"
step ctl POST /_emu/faults '{"kind":"garbage","method":"PATCH","count":1}'
step_fails bash -c "echo draft > '$A/status'"
step ctl POST /_emu/faults '{"kind":"status","status":500,"count":10}'
step_fails bash -c "echo draft > '$A/status'"
step ctl POST /_emu/faults/clear '{}'
step ctl DELETE "/_emu/audiences/$(getfattr --only-values -n user.leadpipe.id "$mnt/Audience 00003" 2>/dev/null)"
sleep 1.2
step ls "$mnt"
step cat "$mnt/Audience 00004/status"

fusermount3 -u "$mnt" || fail "cannot unmount"
vg_rc=0
wait "$vg_pid" || vg_rc=$?
vg_pid=

[ "$vg_rc" = 0 ] || fail "valgrind/leadpipefs exit status $vg_rc (99: valgrind found errors)"
grep -q "ERROR SUMMARY: 0 errors" "$work/valgrind.log" || fail "valgrind reported errors"
grep -Eq "definitely lost: 0 bytes|no leaks are possible" "$work/valgrind.log" ||
    fail "valgrind reported a definite leak"
grep -E "ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|no leaks" "$work/valgrind.log"
echo "valgrind: clean"
exit 0
