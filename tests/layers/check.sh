#!/usr/bin/env bash
# The layering guard (src/forbid/*.h, forced into each layer by src/meson.build)
# must turn a use of the library it forbids into a build error, and nothing else:
# each header is tried with its library's header (must fail to compile) and with
# the plain C library (must compile). Usage: check.sh CC SRC_DIR
set -u
cc=$1 src=$2
fail=0
try() { # EXPECT(ok|error) FORBID INCLUDE
  local out
  out=$(printf '#include <%s>\nint main(void) { return 0; }\n' "$3" |
        "$cc" -fsyntax-only -I/usr/include/fuse3 -DFUSE_USE_VERSION=312 \
              -include "$src/forbid/$2.h" -x c - 2>&1)
  local rc=$?
  if [ "$1" = error ] && { [ $rc -eq 0 ] || ! grep -q "poisoned" <<<"$out"; }; then
    echo "FAIL: forbid/$2.h let <$3> through"; fail=1
  elif [ "$1" = ok ] && [ $rc -ne 0 ]; then
    echo "FAIL: forbid/$2.h broke <$3>: $out"; fail=1
  else
    echo "ok: forbid/$2.h with <$3>: $1"
  fi
}
try error curl curl/curl.h
try error cjson cjson/cJSON.h
try error fuse fuse_lowlevel.h
try error fuse fuse3/fuse_lowlevel.h
for f in curl cjson fuse; do
  try ok "$f" stdio.h
  try ok "$f" pthread.h
done
exit $fail
