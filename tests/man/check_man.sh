#!/bin/bash
# check_man.sh - checks the built manual page leadpipefs.1: it renders with man
# and groff without a single warning, has every section a reader looks for, and
# documents every -o option that `leadpipefs --help` prints.
#
# Usage: check_man.sh BUILD/man/leadpipefs.1 BUILD/src/leadpipefs
# Exit: 0 pass, 1 fail, 77 skip (man or groff missing and cannot be installed).

set -u

page=${1:?usage: check_man.sh MANPAGE LEADPIPEFS_BINARY}
bin=${2:?usage: check_man.sh MANPAGE LEADPIPEFS_BINARY}
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# man-db and groff-base are on every Debian system with manual pages; a
# minimal container may lack them, so install them only then.
ensure_tools() {
    local missing=""
    command -v man >/dev/null 2>&1 || missing="$missing man-db"
    command -v groff >/dev/null 2>&1 || missing="$missing groff-base"
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing$missing" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing >&2 \
            && return 0
    fi
    echo "SKIP: cannot render the page without$missing" >&2
    exit 77
}

ensure_tools
[ -s "$page" ] || { echo "FAIL: no manual page at $page" >&2; exit 1; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# The page holds Unicode (NAME ENCODING); render it as a UTF-8 terminal would,
# 80 columns wide, whatever the caller's environment says.
unset MANWIDTH MANROFFOPT MANOPT GROFF_TMAC_PATH
export LC_ALL=C.UTF-8 MANPAGER=cat PAGER=cat COLUMNS=80

# (a) Renders cleanly: man (all groff warnings on), then groff directly for
# a UTF-8 and an ASCII terminal and for print.
if ! man --warnings=w -l "$page" >"$tmp/page.txt" 2>"$tmp/man.err"; then
    fail "man -l exited with status $?"
fi
if [ -s "$tmp/man.err" ]; then
    fail "man -l printed on stderr:"
    cat "$tmp/man.err" >&2
fi
for dev in utf8 ascii ps; do
    if ! groff -k -man -T"$dev" -ww -z "$page" 2>"$tmp/groff.err"; then
        fail "groff -T$dev exited with status $?"
    fi
    if [ -s "$tmp/groff.err" ]; then
        fail "groff -T$dev -ww printed warnings:"
        cat "$tmp/groff.err" >&2
    fi
done
if [ "$(wc -l <"$tmp/page.txt")" -lt 100 ]; then
    fail "the rendered page is only $(wc -l <"$tmp/page.txt") lines long"
fi
# Markup that rst2man did not turn into troff shows up as text.
if grep -nE '``|System Message|\\f[BIRP]' "$tmp/page.txt" >&2; then
    fail "reStructuredText or troff markup left in the rendered text (lines above)"
fi

# (b) Every section, as a heading at the left margin.
sections=(
    "NAME" "SYNOPSIS" "DESCRIPTION" "THE TREE" "OPTIONS" "ENVIRONMENT"
    "OPERATIONS" "ERRORS" "NAME ENCODING" "CACHING AND CONSISTENCY" "SECURITY"
    "EXAMPLES" "FILES" "EXIT STATUS" "BUGS" "SEE ALSO"
)
for s in "${sections[@]}"; do
    grep -qx -- "$s" "$tmp/page.txt" || fail "section '$s' is missing"
done

# Words wrap anywhere in filled text: compare against one long line.
tr -s '[:space:]' ' ' <"$tmp/page.txt" >"$tmp/flat.txt"

# Facts a reader comes to the page for (a regression here is a doc bug).
facts=(
    "LEADPIPE_API_KEY" "LEADPIPE_BASE_URL" "user.leadpipe.lastError"
    "Disk quota exceeded" "Sales∕Revenue Leaders" "Name⁓6fb81599"
    "fuse.leadpipefs" "mnt-leadpipe.mount" "After=network-online.target"
    "fusermount3(1)" "mount.fuse3(8)" "fuse(8)"
    "subdirectory of itself" "No space left on device" "Nul␀Name"
)
for f in "${facts[@]}"; do
    grep -qF -- "$f" "$tmp/flat.txt" || fail "the page does not mention '$f'"
done

# (c) Every -o option the program's help prints is documented as "-o NAME".
[ -x "$bin" ] || { echo "FAIL: no program at $bin" >&2; exit 1; }
help=$(timeout 10 "$bin" --help 2>&1)
rc=$?
if [ "$rc" = 124 ]; then
    fail "'$bin --help' did not finish within 10 s"
fi
opts=$(printf '%s\n' "$help" | grep -oE -- '-o[[:space:]]+[a-z][a-z0-9_]*' \
    | awk '{ print $2 }' | sort -u)
if [ "$rc" = 124 ]; then
    :
elif [ -z "$opts" ] || grep -qiw stub <<<"$help"; then
    echo "NOTE: '$bin --help' (exit $rc) lists no -o option yet (a stub?):" \
        "skipping the option check" >&2
else
    for o in $opts; do
        grep -qE -- "-o ${o}([^a-z0-9_]|$)" "$tmp/flat.txt" \
            || fail "'leadpipefs --help' prints -o $o, the man page does not document it"
    done
    echo "checked $(wc -w <<<"$opts") -o options from --help:" $opts >&2
fi

if [ "$failures" -gt 0 ]; then
    echo "$failures problem(s) in $page" >&2
    exit 1
fi
echo "ok: $page renders cleanly, has all ${#sections[@]} sections" >&2
exit 0
