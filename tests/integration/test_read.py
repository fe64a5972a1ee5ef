"""The read side of a real leadpipefs mount, driven with the tools a user types.

Each test seeds the emulator, mounts, runs ls/cat/stat/wc/grep/find/tar/cp/
getfattr against the mount point, and compares what they print with the
emulator's own data and request log (SPEC.md: "The tree", "Consistency").
"""
import datetime
import json
import os
import subprocess
import tarfile
import threading
import time

import pytest

ESC, SLASH, EMPTY, DOT, SWUNG = "\u201b", "\u2215", "\u2205", "\u2024", "\u2053"
NULSIGN = "\u2400"  # SYMBOL FOR NULL: how a NUL in a name shows
LIST = "/v1/intent/audiences"


# ---------------------------------------------------------------- helpers

def run(*argv, timeout=60, **kw):
    """Runs one command (argv, no shell); returns CompletedProcess with text output."""
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, **kw)


def read_tool(path):
    """What `cat PATH` prints; fails the test if cat fails."""
    r = run("cat", "--", path)
    assert r.returncode == 0, "cat %r: %s" % (path, r.stderr)
    return r.stdout


def listing(m):
    """The names `ls -A --zero M` shows, in its order."""
    r = run("ls", "-A", "--zero", "--", m.path)
    assert r.returncode == 0, r.stderr
    return [n for n in r.stdout.split("\0") if n]


def xattr(path, name):
    """getfattr --only-values: (exit status, value, stderr)."""
    r = run("getfattr", "--only-values", "--absolute-names", "-n", name, "--", path)
    return r.returncode, r.stdout, r.stderr


def id_map(m):
    """Shown name -> user.leadpipe.id, read with getfattr for every listed directory."""
    ids = {}
    for name in listing(m):
        rc, value, err = xattr(os.path.join(m.path, name), "user.leadpipe.id")
        assert rc == 0, "getfattr user.leadpipe.id of %r: %s" % (name, err)
        ids[name] = value
    return ids


def dirs_by_id(m):
    """Audience id -> its directory path in the mount."""
    return {aid: os.path.join(m.path, name) for name, aid in id_map(m).items()}


def encode(name):
    """The man page's NAME ENCODING, before any duplicate/length suffix."""
    if name == "":
        return EMPTY
    if name in (".", ".."):
        return DOT * len(name)
    return "".join(ESC + c if c in (SLASH, EMPTY, DOT, SWUNG, ESC, NULSIGN)
                   else SLASH if c == "/" else NULSIGN if c == "\0" else c for c in name)


def decode(shown):
    """Undoes the encoding: (decoded name, text after an unescaped SWUNG DASH or None)."""
    out, i = [], 0
    while i < len(shown):
        c = shown[i]
        if c == ESC and i + 1 < len(shown):
            out.append(shown[i + 1])
            i += 2
            continue
        if c == SWUNG:
            return "".join(out), shown[i + 1:]
        out.append({SLASH: "/", EMPTY: "", DOT: ".", NULSIGN: "\0"}.get(c, c))
        i += 1
    return "".join(out), None


def iso_ms(text):
    """ISO 8601 '...Z' with milliseconds -> integer milliseconds since the epoch."""
    dt = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return round(dt.timestamp() * 1000)


def poll(check, limit=3.5, step=0.05):
    """Calls check() until it is true; returns the seconds that took, or None."""
    start = time.monotonic()
    while True:
        if check():
            return time.monotonic() - start
        if time.monotonic() - start > limit:
            return None
        time.sleep(step)


def plant(emu, **fields):
    """Creates an audience 'elsewhere' (no validation); returns it as the emulator stored it."""
    return emu.control("POST", "/_emu/audiences", fields)["data"]


def odd_id(i):
    return "%08x-0000-4000-8000-%012x" % (0x0dd00000 + i, i)


# Names that cannot be file names as they are, collide, or carry the
# encoding's own characters. Duplicates are listed twice on purpose.
ODD_NAMES = [
    "Sales/Revenue Leaders", "a/b/c", "/", ".", "..", "...", "", "Dup", "Dup", "Dup",
    "A\u2215B", "\u2205", "\u2024", "\u2024\u2024", "\u201b", "x\u2053deadbeef",
    "Dup\u2053" + odd_id(8)[:8],          # looks like the encoded 2nd "Dup": must stay distinct
    "L" * 300, "\u00e9" * 200, "B" * 255, "C" * 256, "D" * 300, "D" * 300,
    "\U0001F1E8\U0001F1ED" * 40, "/" * 120, "\u201b" * 100,
    "line\nbreak", " leading space", "trailing space ", "名前 テスト",
    "Café Owners in Zürich 🇨🇭",
    "nul\0inside", "nul", "\0", NULSIGN,  # a NUL is a character of its own, never an end
]


def plant_odd_names(emu):
    """Plants ODD_NAMES (ids odd_id(i), listed first, in this order); returns the audiences."""
    out = []
    for i, name in enumerate(ODD_NAMES):
        out.append(plant(emu, id=odd_id(i), name=name, audienceSize=i * 11,
                         status=["draft", "active", "paused"][i % 3],
                         createdAt="2020-01-01T00:00:%02d.%03dZ" % (i // 1000, i % 1000),
                         updatedAt="2020-02-01T00:00:00.%03dZ" % i))
    return out


def is_long(name):
    return len(encode(name).encode()) > 255


# ---------------------------------------------------------------- listing and names

def test_ls_shows_every_audience_once_with_reversible_names(emu, mount_factory):
    emu.reset(sample=True)
    plant_odd_names(emu)
    state = emu.state()
    m = mount_factory()

    shown = listing(m)
    assert len(shown) == len(state), "ls shows %d entries for %d audiences" % (len(shown), len(state))
    assert len(set(shown)) == len(shown), "a name is shown twice"
    assert sorted(shown) == sorted(os.listdir(m.path))
    for n in shown:
        assert len(n.encode()) <= 255 and "/" not in n and n not in ("", ".", ".."), repr(n)

    # The documented encodings, literally.
    for want in ["Sales\u2215Revenue Leaders", EMPTY, DOT, DOT * 2, "...",
                 "A" + ESC + SLASH + "B", ESC + EMPTY, ESC + DOT, ESC + ESC,
                 "x" + ESC + SWUNG + "deadbeef", "B" * 255, "line\nbreak", " leading space",
                 "Café Owners in Zürich 🇨🇭", "nul" + NULSIGN + "inside", "nul", NULSIGN,
                 ESC + NULSIGN]:
        assert want in shown, "%r not in the listing" % want

    # Every emulator id appears exactly once; every name maps back to its audience.
    ids = id_map(m)
    assert sorted(ids.values()) == sorted(a["id"] for a in state)
    by_id = {a["id"]: a for a in state}
    first_with_name = {}
    for a in state:
        first_with_name.setdefault(a["name"], a["id"])
    for name, aid in ids.items():
        real = by_id[aid]["name"]
        decoded, suffix = decode(name)
        if is_long(real):
            assert real.startswith(decoded) and suffix is not None, (name, real)
        elif first_with_name[real] == aid:
            assert name == encode(real), (name, real)
        else:
            assert name == encode(real) + SWUNG + aid[:8], (name, real)
            assert decoded == real


def test_long_names_carry_the_id_suffix(emu, mount_factory):
    emu.reset(sample=True)
    plant_odd_names(emu)
    state = emu.state()
    m = mount_factory()
    ids = id_map(m)
    by_id = {a["id"]: a for a in state}
    long_ones = {n: aid for n, aid in ids.items() if is_long(by_id[aid]["name"])}
    assert len(long_ones) >= 10
    for name, aid in long_ones.items():
        decoded, suffix = decode(name)
        assert suffix == aid[:8], "%r (id %s)" % (name, aid)
        assert by_id[aid]["name"].startswith(decoded)
        assert len(name.encode()) <= 255


def test_names_and_inodes_stable_across_refresh(emu, mount_factory):
    emu.reset(sample=True)
    plant_odd_names(emu)
    m = mount_factory("cache_timeout=1")
    before = {n: os.lstat(os.path.join(m.path, n)).st_ino for n in listing(m)}
    ids_before = id_map(m)
    emu.clear_log()
    time.sleep(1.3)
    after = {n: os.lstat(os.path.join(m.path, n)).st_ino for n in listing(m)}
    assert emu.requests("GET", LIST), "the listing was not refreshed after cache_timeout"
    assert after == before
    assert id_map(m) == ids_before
    assert len(set(before.values())) == len(before), "two audiences share an inode"


def test_a_name_with_a_nul_is_shown_whole(emu, mount_factory):
    """A NUL in a name the API sent (JSON "\\u0000") is not the name's end: it
    shows as U+2400, and mv to such a name sends the NUL back."""
    plant(emu, id=odd_id(1), name="Nul\0Name", createdAt="2020-01-01T00:00:01.000Z")
    plant(emu, id=odd_id(2), name="Nul", createdAt="2020-01-01T00:00:02.000Z")
    m = mount_factory()
    assert sorted(listing(m)) == ["Nul", "Nul" + NULSIGN + "Name"]
    assert id_map(m) == {"Nul" + NULSIGN + "Name": odd_id(1), "Nul": odd_id(2)}
    emu.clear_log()
    r = m.sh('mv "$M/Nul␀Name" "$M/Nul␀Renamed" && ls "$M"')
    assert (r.returncode, r.stderr, r.stdout) == (0, "", "Nul\nNul␀Renamed\n")
    assert [(q["method"], q["body"]) for q in emu.log() if q["method"] != "GET"] == [
        ("PATCH", {"name": "Nul\0Renamed"})]
    assert [a["name"] for a in emu.state()] == ["Nul\0Renamed", "Nul"]


def test_file_inodes_survive_the_kernel_forgetting_them(emu, mount_factory):
    """Inode numbers of an audience's files stay the same after the kernel
    drops its caches (`echo 2 > /proc/sys/vm/drop_caches`), as its directory's do."""
    if not os.access("/proc/sys/vm/drop_caches", os.W_OK):
        pytest.skip("needs root to drop the kernel's caches")
    emu.reset(sample=True)
    m = mount_factory()
    d = os.path.join(m.path, "VP Sales at Series B SaaS")
    names = [d, d + "/config.json", d + "/status", d + "/size", d + "/runs"]

    def inodes():
        r = run("stat", "-c", "%i", "--", *names)
        assert r.returncode == 0, r.stderr
        return r.stdout.split()

    before = inodes()
    for _ in range(3):
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("2\n")
        time.sleep(0.2)  # the kernel's FORGETs reach the daemon
        assert inodes() == before
    assert len(set(before)) == len(before)


def test_tree_shape_and_modes(emu, mount_factory):
    emu.reset(sample=True)
    m = mount_factory()
    d = os.path.join(m.path, "VP Sales at Series B SaaS")
    r = run("ls", "-A", d)
    assert r.stdout.split("\n")[:-1] == ["config.json", "runs", "size", "status"]
    r = run("stat", "-c", "%F %a %h", "--", m.path, d, d + "/config.json", d + "/status",
            d + "/size")
    lines = r.stdout.splitlines()
    assert lines[0].startswith("directory 755")
    assert lines[1] == "directory 755 2"
    assert lines[2:] == ["regular file 644 1", "regular file 644 1", "regular file 444 1"]
    assert run("ls", d + "/nothing").returncode != 0


# ---------------------------------------------------------------- file contents

def test_cat_shows_the_emulator_data(emu, mount_factory):
    emu.reset(sample=True)
    plant_odd_names(emu)
    plant(emu, id=odd_id(900), name="Odd config",
          config={"topicIds": list(range(1, 251)), "minScore": None, "maxScore": 99,
                  "filters": {"q\"uote": "caf\u00e9 \u2603 \\n", "nested": {"a": [1, [2, {}]]},
                              "flag": False}, "zKey": 1, "aKey": "last"},
          unknownField={"x": 1})
    state = emu.state()
    m = mount_factory()
    dirs = dirs_by_id(m)
    assert len(dirs) == len(state)
    for a in state:
        d = dirs[a["id"]]
        text = read_tool(d + "/config.json")
        assert text.endswith("}\n"), (a["name"], text[-20:])
        pairs = json.loads(text, object_pairs_hook=lambda p: p)
        assert [k for k, _ in pairs] == list(a["config"]), "config keys not in API order"
        assert json.loads(text) == a["config"], a["name"]
        assert read_tool(d + "/status") == a["status"] + "\n"
        assert read_tool(d + "/size") == "%d\n" % a["audienceSize"]


def test_stat_size_equals_wc_for_every_file(emu, mount_factory):
    emu.reset(sample=True)
    plant_odd_names(emu)
    n = len(emu.state())
    m = mount_factory()
    r = m.sh('shopt -s dotglob; n=0; for f in "$M"/*/*; do [ -d "$f" ] && continue; n=$((n+1)); '
             's=$(stat -c %s "$f"); w=$(wc -c < "$f"); '
             '[ "$s" = "$w" ] && [ "$w" -gt 0 ] || echo "MISMATCH $f stat=$s wc=$w"; done; '
             'echo "files=$n"')
    assert r.returncode == 0, r.stderr
    assert "MISMATCH" not in r.stdout, r.stdout
    assert r.stdout.strip().splitlines()[-1] == "files=%d" % (3 * n)


def test_xattrs_give_id_and_timestamps(emu, mount_factory):
    emu.reset(sample=True)
    state = emu.state()
    m = mount_factory()
    dirs = dirs_by_id(m)
    for a in state:
        r = run("getfattr", "-d", "--absolute-names", "--", dirs[a["id"]])
        assert r.returncode == 0, r.stderr
        got = {}
        for line in r.stdout.splitlines():
            if line.startswith("user.leadpipe."):
                k, v = line.split("=", 1)
                got[k[len("user.leadpipe."):]] = json.loads(v)
        want = {"id": a["id"], "status": a["status"], "accessType": a["accessType"],
                "dailyRefreshEnabled": "true" if a["dailyRefreshEnabled"] else "false",
                "createdAt": a["createdAt"], "updatedAt": a["updatedAt"]}
        if a.get("lastRefreshedAt"):
            want["lastRefreshedAt"] = a["lastRefreshedAt"]
        assert got == want, a["name"]
    never = [a for a in state if not a.get("lastRefreshedAt")]
    assert never, "the sample should hold an audience never refreshed"
    rc, _, err = xattr(dirs[never[0]["id"]], "user.leadpipe.lastRefreshedAt")
    assert rc != 0 and "No such attribute" in err
    r = run("setfattr", "-n", "user.leadpipe.status", "-v", "active", dirs[state[0]["id"]])
    assert r.returncode != 0 and "Operation not supported" in r.stderr
    assert not [x for x in emu.log() if x["method"] != "GET"]


def test_acls_and_labels_not_supported_so_ls_asks_once(emu, mount_factory, tmp_path):
    """ls -l asks for an ACL and an SELinux label of every file unless the file
    system says it supports none: then it asks once for the whole device."""
    emu.reset(seed=40)
    m = mount_factory()
    first = os.path.join(m.path, "Audience 00001")
    for name in ("security.selinux", "system.posix_acl_access", "trusted.x"):
        rc, _, err = xattr(first, name)
        assert rc != 0 and "Operation not supported" in err, (name, err)
    trace = str(tmp_path / "ls.trace")
    r = run("strace", "-f", "-o", trace, "-e", "trace=getxattr,lgetxattr", "ls", "-l", m.path)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 41  # "total" and 40 audiences
    assert "+" not in "".join(ln.split()[0] for ln in r.stdout.splitlines()[1:])
    with open(trace) as f:
        asked = [ln for ln in f if "xattr(" in ln]
    assert 1 <= len(asked) <= 4, asked
    r = run("cp", "-a", first, str(tmp_path / "copy"))  # copying ACLs: none, no error
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(tmp_path / "copy")) == ["config.json", "runs", "size", "status"]


def test_directory_mtime_is_updated_at(emu, mount_factory):
    emu.reset(sample=True)
    state = emu.state()
    m = mount_factory()
    dirs = dirs_by_id(m)
    paths = [dirs[a["id"]] for a in state]
    r = run("stat", "-c", "%Y %.3Y", "--", *paths)
    assert r.returncode == 0, r.stderr
    for a, line in zip(state, r.stdout.splitlines()):
        secs, ms = line.split()
        want = iso_ms(a["updatedAt"])
        assert int(ms.replace(".", "")) == want, a["name"]
        assert int(secs) == want // 1000
    # so ls -t sorts by last change
    newest = max(state, key=lambda a: iso_ms(a["updatedAt"]))
    r = run("ls", "-t", "--zero", "--", m.path)
    assert dirs[newest["id"]] == os.path.join(m.path, r.stdout.split("\0")[0])


# ---------------------------------------------------------------- globs and find

def test_globs_grep_and_find(emu, mount_factory):
    emu.reset(sample=True)
    state = emu.state()
    m = mount_factory()
    dirs = dirs_by_id(m)

    r = m.sh('cat "$M"/*/size')
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.splitlines()) == sorted(str(a["audienceSize"]) for a in state)

    r = m.sh('grep -lx active "$M"/*/status')
    assert r.returncode == 0, r.stderr
    got = sorted(os.path.dirname(p) for p in r.stdout.splitlines())
    want = sorted(dirs[a["id"]] for a in state if a["status"] == "active")
    assert want and got == want

    r = m.sh('find "$M" -maxdepth 2 -name status -print0')  # runs/*/status lie deeper
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout.count("\0") == len(state)
    r = m.sh('find "$M" -mindepth 1 -maxdepth 2 -print0')
    assert r.stdout.count("\0") == 5 * len(state)  # each directory, its 3 files and runs/


def test_request_economy_250_audiences(emu, mount_factory):
    emu.reset(seed=250)
    state = emu.state()
    emu.clear_log()
    m = mount_factory("cache_timeout=30")
    r = m.sh('ls -l "$M" > /dev/null && cat "$M"/*/size "$M"/*/status')
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 500
    assert sorted(lines[:250]) == sorted(str(a["audienceSize"]) for a in state)
    assert sorted(lines[250:]) == sorted(a["status"] for a in state)
    assert listing(m) == ["Audience %05d" % i for i in range(1, 251)]

    log = emu.log()
    lists = [x for x in log if x["method"] == "GET" and x["path"] == LIST]
    others = [x for x in log if x["path"] != LIST]
    assert 1 <= len(lists) <= 3, ["%s?%s" % (x["path"], x["query"]) for x in lists]
    assert others == [], ["%s %s" % (x["method"], x["path"]) for x in others[:5]]


def test_one_ls_one_listing_whatever_the_timeout(emu, mount_factory):
    """cache_timeout=0: `ls` still costs one listing, not one per entry
    (READDIRPLUS looks each entry up) nor one per request the kernel sends for
    it (the directory's attributes, each chunk). The next `ls` asks again, so
    a change made elsewhere shows at once."""
    emu.reset(seed=40)
    names = ["Audience %05d" % i for i in range(1, 41)]
    m = mount_factory("cache_timeout=0")
    for i in range(3):
        time.sleep(1.1)  # past the start-up's (or the last ls's) listing
        emu.clear_log()
        assert listing(m) == names
        lists = [x for x in emu.log() if x["method"] == "GET" and x["path"] == LIST]
        assert len(lists) == 1, "ls #%d sent %d listings for %d audiences" % (
            i + 1, len(lists), len(names))
        assert len(emu.log()) == 1, emu.log()
    plant(emu, name="Made elsewhere")
    time.sleep(1.1)
    emu.clear_log()
    assert listing(m) == names + ["Made elsewhere"]
    assert len(emu.log()) == 1, emu.log()


# ---------------------------------------------------------------- freshness

def test_changes_made_elsewhere_show_within_cache_timeout(emu, mount_factory):
    emu.reset(seed=6)
    a, b, c = emu.state()[:3]
    m = mount_factory("cache_timeout=1")
    for x in (a, b, c):
        read_tool(os.path.join(m.path, x["name"], "status"))
    assert "Fresh audience" not in listing(m)

    new_status = "paused" if a["status"] != "paused" else "draft"
    emu.control("PATCH", "/_emu/audiences/" + a["id"], {"status": new_status})
    emu.control("PATCH", "/_emu/audiences/" + b["id"], {"audienceSize": 1234567})
    emu.control("POST", "/_emu/audiences", {"name": "Fresh audience"})
    emu.control("DELETE", "/_emu/audiences/" + c["id"])
    start = time.monotonic()
    seen = {}
    checks = {
        "status": lambda: run("cat", os.path.join(m.path, a["name"], "status")).stdout
        == new_status + "\n",
        "size": lambda: (run("cat", os.path.join(m.path, b["name"], "size")).stdout
                         == "1234567\n"
                         and run("stat", "-c", "%s", os.path.join(m.path, b["name"], "size"))
                         .stdout == "8\n"),
        "new": lambda: "Fresh audience" in listing(m),
        "deleted": lambda: c["name"] not in listing(m)
        and run("cat", os.path.join(m.path, c["name"], "status")).returncode != 0,
    }
    while time.monotonic() - start < 3.5 and len(seen) < len(checks):
        for k, check in checks.items():
            if k not in seen and check():
                seen[k] = time.monotonic() - start
        time.sleep(0.05)
    assert set(seen) == set(checks), "never seen: %s" % (set(checks) - set(seen))
    assert max(seen.values()) <= 2.5, seen
    # and the new audience really is readable
    d = os.path.join(m.path, "Fresh audience")
    assert read_tool(d + "/status") == "draft\n"
    assert json.loads(read_tool(d + "/config.json"))["topicIds"] == [117805]


def test_status_grown_elsewhere_is_read_whole_while_kernel_holds_old_size(emu, mount_factory):
    """The kernel keeps a file's size for cache_timeout; when the daemon's
    refresh finds longer content before that, cat must still print all of it
    (the page cache would cut it at the size the kernel holds)."""
    emu.reset(seed=3)
    a = emu.state()[0]
    emu.control("PATCH", "/_emu/audiences/" + a["id"], {"status": "draft"})
    m = mount_factory("cache_timeout=2")
    status = os.path.join(m.path, a["name"], "status")
    size = os.path.join(m.path, a["name"], "size")
    mounted = time.monotonic()
    time.sleep(1.2)  # the listing is 1.2 s old; the kernel learns the sizes now
    assert read_tool(status) == "draft\n"
    assert read_tool(size) == "%d\n" % a["audienceSize"]
    emu.control("PATCH", "/_emu/audiences/" + a["id"],
                {"status": "paused", "audienceSize": 123456789})
    time.sleep(max(0, 2.3 - (time.monotonic() - mounted)))
    # The listing is stale (> 2 s), the kernel's sizes are not (< 2 s old).
    assert read_tool(status) == "paused\n"
    assert read_tool(size) == "123456789\n"
    assert run("stat", "-c", "%s", status).stdout == "7\n"


# ---------------------------------------------------------------- tar and cp

def test_tar_archives_what_cat_shows(emu, mount_factory, tmp_path):
    emu.reset(sample=True)
    n = len(emu.state())
    # Slow the API down so the archive takes longer than cache_timeout and a
    # refresh happens while tar reads (the tree must not change under it).
    emu.control("POST", "/_emu/settings", {"latency_ms": 40})
    m = mount_factory("cache_timeout=1")
    archive = str(tmp_path / "x.tar")
    r = run("tar", "cf", archive, "-C", m.path, ".", timeout=120)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    # tar reads the runs too (SPEC: every results.csv): count what it must hold.
    runs = emu.control("GET", "/_emu/runs")["runs"]
    done = [x for x in runs if x["status"] == "completed"]
    with tarfile.open(archive) as t:
        members = t.getmembers()
        files = [x for x in members if x.isfile()]
        dirs = [x for x in members if x.isdir() and x.name != "."]
        links = [x for x in members if x.issym()]
        assert len(files) == 3 * n + n + len(runs) + 2 * len(done)
        assert len(dirs) == n + n + len(runs)
        assert len(links) == len({x["audienceId"] for x in done})
        for x in files:
            data = t.extractfile(x).read()
            with open(os.path.join(m.path, x.name), "rb") as f:
                assert data == f.read(), x.name  # bytes: a CSV field may hold CR LF
            assert len(data) == x.size
            assert data.endswith(b"\n") or x.name.endswith("/runs/queue"), x.name
    r = m.sh('tar cf - -C "$M" . | cat > /dev/null; echo "${PIPESTATUS[0]}"')
    assert r.stdout == "0\n" and r.stderr == "", r.stderr


def test_cp_r_copies_exact_bytes(emu, mount_factory, tmp_path):
    emu.reset(sample=True)
    name = "Café Owners in Zürich 🇨🇭"
    (a,) = emu.by_name(name)
    m = mount_factory()
    src = os.path.join(m.path, name)
    for flags, dest in (("-r", tmp_path / "r"), ("-a", tmp_path / "a")):
        dest.mkdir()
        r = run("cp", flags, src, str(dest))
        assert r.returncode == 0 and r.stderr == "", (flags, r.stderr)
        copy = dest / name
        assert sorted(os.listdir(copy)) == ["config.json", "runs", "size", "status"]
        for f in ("config.json", "size", "status"):
            assert (copy / f).read_bytes() == read_tool(os.path.join(src, f)).encode()
        assert json.loads((copy / "config.json").read_text()) == a["config"]
        assert (copy / "status").read_text() == a["status"] + "\n"
        assert (copy / "size").read_text() == "%d\n" % a["audienceSize"]


# ---------------------------------------------------------------- concurrency

def test_slow_request_does_not_hold_up_others(emu, mount_factory):
    emu.reset(sample=True)
    slow, fast = emu.state()[:2]
    m = mount_factory()
    dirs = dirs_by_id(m)
    emu.clear_log()
    emu.fault(method="GET", path=LIST + "/" + slow["id"], kind="delay", seconds=5)
    result = {}

    def read_slow():
        t0 = time.monotonic()
        result["text"] = run("cat", dirs[slow["id"]] + "/config.json", timeout=30).stdout
        result["secs"] = time.monotonic() - t0

    th = threading.Thread(target=read_slow)
    th.start()
    try:
        in_flight = poll(lambda: any(x["path"] == LIST + "/" + slow["id"] and x["status"] is None
                                     for x in emu.log()), limit=3)
        assert in_flight is not None, "the slow GET never reached the emulator"
        t0 = time.monotonic()
        text = read_tool(dirs[fast["id"]] + "/config.json")
        took = time.monotonic() - t0
        assert json.loads(text) == fast["config"]
        assert took < 1.5, "cat of another audience took %.2fs behind a 5 s request" % took
        assert "secs" not in result, "the slow request was not slow"
    finally:
        th.join(30)
    assert json.loads(result["text"]) == slow["config"]
    assert result["secs"] >= 4.5


# ---------------------------------------------------------------- API unreachable

def warm(m, dirs):
    """Reads every file of the given audience directories; returns {path: text}."""
    return {d + "/" + f: read_tool(d + "/" + f)
            for d in dirs for f in ("config.json", "status", "size")}


def stale_reads(m, seen, names, bound):
    """Re-reads everything after the cache expired; each call must answer the cached
    text within `bound` seconds."""
    time.sleep(1.3)
    for path, text in seen.items():
        t0 = time.monotonic()
        r = run("cat", path, timeout=30)
        took = time.monotonic() - t0
        assert r.returncode == 0, "cat %s: %s" % (path, r.stderr)
        assert r.stdout == text
        assert took <= bound, "cat %s took %.2fs" % (path, took)
    t0 = time.monotonic()
    assert listing(m) == names
    assert time.monotonic() - t0 <= bound


def test_api_stopped_serves_cached_data(emu, mount_factory):
    emu.reset(sample=True)
    m = mount_factory("timeout=1,tries=2,cache_timeout=1")
    names = listing(m)
    seen = warm(m, [os.path.join(m.path, n) for n in names[:3]])
    emu.stop()
    stale_reads(m, seen, names, bound=1 * 2 + 1.0)
    assert "serving cached data" in m.stderr(), m.stderr()


def test_api_hanging_serves_cached_data_within_timeout_times_tries(emu, mount_factory):
    emu.reset(sample=True)
    m = mount_factory("timeout=1,tries=2,cache_timeout=1")
    names = listing(m)
    seen = warm(m, [os.path.join(m.path, n) for n in names[:2]])
    emu.fault(kind="delay", seconds=30, count=1000)
    stale_reads(m, seen, names, bound=1 * 2 + 1.0)
    log = m.stderr()
    assert "serving cached data" in log, log
    assert emu.requests("GET", LIST), "no refresh was even tried"
