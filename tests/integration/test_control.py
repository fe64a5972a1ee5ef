"""The control directory, MOUNTPOINT/.leadpipe/ (SPEC "The control directory"):
hidden from every listing, its catalogs cached, stats in Prometheus format,
a live access log, and refresh. Driven with cat, grep, cut, jq, tail, find, tar.
"""
import json
import os
import signal
import subprocess
import threading
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import KEY

CTL = ".leadpipe"
FILES = ["accesslog", "account.json", "filters.json", "refresh", "stats", "topics.tsv"]
CFG = {"topicIds": [117805], "minScore": 70, "maxScore": 99, "minTopicOverlap": 1,
       "filters": {}}


def create(emu, name, status="draft"):
    body = {"name": name, "status": status, "config": CFG}
    return emu.control("POST", "/_emu/audiences", body)["data"]["id"]


def api_data(emu, path):
    """The emulator's own answer's data, asked directly (with the key)."""
    import urllib.request
    req = urllib.request.Request(emu.url + path, headers={"x-api-key": KEY})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())["data"]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def metrics(m):
    """The stats file parsed by the reference parser: {(name, labels): value}."""
    text = read(os.path.join(m.path, CTL, "stats")).decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def sample(ms, name, **labels):
    return ms.get((name, tuple(sorted(labels.items()))), 0)


@pytest.fixture
def m(emu, mount_factory):
    create(emu, "Alpha")
    create(emu, "Beta", "active")
    mnt = mount_factory()
    emu.clear_log()
    return mnt


# ---------------------------------------------------------------------------
# hidden, yet there


def test_resolves_by_name_but_is_never_listed(m):
    assert os.path.isdir(os.path.join(m.path, CTL))
    assert CTL not in os.listdir(m.path)
    r = m.sh('ls -a "$M"; echo ---; find "$M" -maxdepth 1; echo ---; '
             'tar cf - -C "$M" . | tar tf -; echo ---; echo "$M"/.*', check=True)
    assert CTL not in r.stdout
    r = m.sh('cd "$M/.leadpipe" && ls', check=True)
    assert r.stdout.split() == FILES
    r = m.sh('stat -c "%A %n" "$M/.leadpipe/stats" "$M/.leadpipe/refresh"', check=True)
    assert r.stdout.split("\n")[0].startswith("-r--r--r-- ")
    assert r.stdout.split("\n")[1].startswith("--w------- ")


def test_control_directory_cannot_be_removed_or_renamed(m):
    r = m.sh('rmdir "$M/.leadpipe"; mv "$M/.leadpipe" "$M/x"; mkdir "$M/.leadpipe"')
    assert "Operation not permitted" in r.stderr
    assert "File exists" in r.stderr
    assert os.path.isdir(os.path.join(m.path, CTL))


def test_an_audience_named_like_it_is_encoded_and_usable(emu, mount_factory):
    aid = create(emu, ".leadpipe")
    m = mount_factory()
    shown = "\u2024leadpipe"
    assert shown in os.listdir(m.path)
    assert read(os.path.join(m.path, shown, "status")) == b"draft\n"
    r = m.sh('echo paused > "$M/\u2024leadpipe/status"')
    assert r.returncode == 0, r.stderr
    assert [a["status"] for a in emu.state() if a["id"] == aid] == ["paused"]
    assert os.path.isdir(os.path.join(m.path, CTL))  # still the control directory


# ---------------------------------------------------------------------------
# account.json, filters.json, topics.tsv


def test_account_and_filters_are_the_apis_data_pretty_and_cached(m, emu):
    for name, path in [("account.json", "/v1/data/account"),
                       ("filters.json", "/v1/intent/audiences/filters")]:
        f = os.path.join(m.path, CTL, name)
        data = read(f)
        assert data.endswith(b"\n") and data.startswith(b"{\n  \"") or data.startswith(b"[\n")
        assert json.loads(data) == api_data(emu, path)
        assert os.stat(f).st_size == len(data)
        emu.clear_log()
        assert read(f) == data  # cached: no request
        assert emu.requests() == []
    r = m.sh('jq -r .slots.available "$M/.leadpipe/account.json"', check=True)
    assert r.stdout.strip() == str(api_data(emu, "/v1/data/account")["slots"]["available"])


def test_account_follows_activations_after_cache_timeout(emu, mount_factory):
    create(emu, "Gamma")
    m = mount_factory("cache_timeout=1")
    before = json.loads(read(os.path.join(m.path, CTL, "account.json")))["slots"]["used"]
    r = m.sh('echo active > "$M/Gamma/status"')
    assert r.returncode == 0, r.stderr
    time.sleep(1.2)
    after = json.loads(read(os.path.join(m.path, CTL, "account.json")))["slots"]["used"]
    assert after == before + 1


def test_failures_map_to_errno_and_the_last_good_copy_is_served(emu, mount_factory):
    m = mount_factory("cache_timeout=1,timeout=2,tries=1")
    acct = os.path.join(m.path, CTL, "account.json")
    emu.fault(path="/v1/data/account", kind="status", status=403,
              body={"error": {"code": "FORBIDDEN", "message": "no"}})
    r = m.sh('cat "$M/.leadpipe/account.json"')
    assert r.returncode == 1 and "Permission denied" in r.stderr
    good = read(acct)  # the fault was used up
    time.sleep(1.2)
    emu.fault(path="/v1/data/account", kind="status", status=503, count=5)
    assert read(acct) == good  # unreachable: the last good copy
    emu.clear_faults()
    emu.fault(path="/v1/intent/audiences/filters", kind="status", status=500, count=5)
    r = m.sh('cat "$M/.leadpipe/filters.json"')
    assert r.returncode == 1 and "Input/output error" in r.stderr  # no copy yet


def test_topics_tsv_header_ids_and_safe_fields(m, emu):
    path = os.path.join(m.path, CTL, "topics.tsv")
    data = read(path).decode()
    lines = data.split("\n")
    assert lines[0] == "topicId\ttopicName\ttype\tindustry\tcategory"
    assert lines[-1] == ""
    rows = lines[1:-1]
    assert len(rows) == 20000
    assert all(len(r.split("\t")) == 5 for r in rows)
    assert "\r" not in data
    ids = [int(r.split("\t")[0]) for r in rows]
    assert len(set(ids)) == 20000 and 117805 in ids
    # The names that held a tab, CR LF and LF are one line each, with spaces.
    by_id = {int(r.split("\t")[0]): r.split("\t")[1] for r in rows}
    for tid in (100007, 100042, 100099):
        assert " " in by_id[tid]
    r = m.sh('grep -i crm "$M/.leadpipe/topics.tsv" | cut -f1', check=True)
    got = [int(x) for x in r.stdout.split()]
    want = [int(row.split("\t")[0]) for row in rows if "crm" in row.lower()]
    assert got and got == want
    assert os.stat(path).st_size == len(data.encode())
    emu.clear_log()
    read(path)
    assert emu.requests() == []  # 24 hours of trust


# ---------------------------------------------------------------------------
# stats


def test_stats_parse_as_prometheus_and_count_what_the_mount_did(m, emu):
    emu.clear_log()
    ms0 = metrics(m)
    assert emu.requests() == []  # reading stats sends nothing
    assert sample(ms0, "leadpipefs_audiences") == 2
    assert sample(ms0, "leadpipefs_api_up") == 1

    cfg = os.path.join(m.path, "Alpha", "config.json")
    read(cfg)
    read(cfg)
    emu.fault(path="/v1/intent/audiences", kind="status", status=500, prefix=True)
    r = m.sh('echo paused > "$M/Beta/status"')  # a 500, then the retry succeeds
    assert r.returncode == 0, r.stderr
    ms = metrics(m)

    def delta(name, **labels):
        return sample(ms, name, **labels) - sample(ms0, name, **labels)

    assert delta("leadpipefs_api_requests_total", method="GET", code="2xx") >= 1
    assert delta("leadpipefs_api_requests_total", method="PATCH", code="5xx") == 1
    assert delta("leadpipefs_api_requests_total", method="PATCH", code="2xx") == 1
    assert delta("leadpipefs_api_retries_total") == 1
    assert delta("leadpipefs_cache_misses_total", cache="config") == 1
    assert delta("leadpipefs_cache_hits_total", cache="config") >= 1
    assert delta("leadpipefs_api_received_bytes_total") > 0
    assert delta("leadpipefs_fuse_operations_total", op="open") >= 3


def test_stats_show_the_api_down(emu, mount_factory):
    m = mount_factory("cache_timeout=0,timeout=2,tries=1")
    emu.fault(kind="drop", count=50)
    time.sleep(0.6)  # a listing is trusted half a second, even at cache_timeout=0
    m.sh('ls "$M" >/dev/null')
    assert sample(metrics(m), "leadpipefs_api_up") == 0
    assert sample(metrics(m), "leadpipefs_api_requests_total", method="GET", code="error") >= 1


# ---------------------------------------------------------------------------
# accesslog


class Follower:
    """`cat accesslog` (or another command given as argv) in the background,
    collecting what it prints."""

    def __init__(self, m, cmd=("cat",)):
        self.proc = subprocess.Popen([*cmd, os.path.join(m.path, CTL, "accesslog")],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = b""
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()
        time.sleep(0.3)  # open and first read in flight

    def _pump(self):
        for chunk in iter(lambda: self.proc.stdout.read1(65536), b""):
            self.out += chunk

    def wait_for(self, needle, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if needle.encode() in self.out:
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        t0 = time.time()
        self.proc.wait(5)
        self.thread.join(2)
        return time.time() - t0


def test_accesslog_shows_operations_and_requests_never_the_key(m, emu):
    f = Follower(m)
    r = m.sh('cat "$M/Alpha/config.json" >/dev/null; cat "$M/Beta/status"; '
             'cat "$M/Nope/status" 2>/dev/null; true', check=True)
    assert f.wait_for("api GET /v1/intent/audiences/")
    assert f.wait_for("fuse lookup /Nope ENOENT")
    took = f.stop()
    assert took < 2  # Ctrl-C ends a blocked read at once
    text = f.out.decode()
    assert "fuse open /Alpha/config.json 0" in text
    assert "fuse lookup /Beta/status 0" in text
    assert KEY not in text
    for line in text.splitlines():
        parts = line.split(" ")
        assert parts[1] in ("fuse", "api", "#") or line.startswith("#"), line
        assert parts[0].endswith("Z")


def test_accesslog_two_readers_each_get_every_line(m):
    a, b = Follower(m), Follower(m)
    m.sh('for i in $(seq 1 50); do cat "$M/Beta/status" >/dev/null; done', check=True)
    time.sleep(0.5)
    a.stop()
    b.stop()
    la = [l for l in a.out.decode().splitlines() if "/Beta/status" in l]
    lb = [l for l in b.out.decode().splitlines() if "/Beta/status" in l]
    assert len(la) >= 150 and la == lb


def test_accesslog_slow_reader_loses_lines_counted_and_never_slows_the_mount(m):
    path = os.path.join(m.path, CTL, "accesslog")
    fd = os.open(path, os.O_RDONLY)  # opened, never read while the mount works
    try:
        r = m.sh('for i in $(seq 1 1500); do cat "$M/Beta/status" >/dev/null; done; echo done',
                 timeout=120)
        assert r.stdout.strip() == "done"
        first = os.read(fd, 1 << 16).decode()
        assert first.startswith("# ") and "lines dropped" in first.splitlines()[0]
    finally:
        os.close(fd)
    assert sample(metrics(m), "leadpipefs_accesslog_dropped_lines_total") > 0


def test_accesslog_is_a_growing_file_that_tail_follows(m):
    """tail -f stats the log, seeks near its end and polls its size: the file's
    size is what was logged, so it prints the latest lines and then each new
    one. Operations on the log itself are not logged (tail's fstat every
    second would feed it)."""
    path = os.path.join(m.path, CTL, "accesslog")
    m.sh('cat "$M/Alpha/status" >/dev/null', check=True)
    before = os.stat(path).st_size
    assert before > 0
    r = m.sh('cat "$M/Beta/status" >/dev/null; stat -c %s "$M/.leadpipe/accesslog"', check=True)
    assert int(r.stdout) > before  # grows with what is done, as a log file
    # tail -n: the latest lines, and it returns (no wait at the end).
    r = m.sh('timeout 10 tail -n 3 "$M/.leadpipe/accesslog"')
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 3
    assert "fuse release /Beta/status 0" in r.stdout
    # tail -f: the last line now, then the new ones as they come.
    f = Follower(m, ("stdbuf", "-oL", "tail", "-n", "1", "-f"))
    time.sleep(1.5)  # tail's first look
    m.sh('cat "$M/Alpha/config.json" >/dev/null; cat "$M/Nope/status" 2>/dev/null; true')
    assert f.wait_for("fuse open /Alpha/config.json 0", timeout=10), f.out
    assert f.wait_for("fuse lookup /Nope ENOENT", timeout=10), f.out
    time.sleep(2.5)  # two more polls of tail's: nothing about the log itself
    f.stop()
    text = f.out.decode()
    assert "/.leadpipe/accesslog" not in text.replace("lookup /.leadpipe/accesslog", "")
    assert len(text.splitlines()) < 20, text


def test_accesslog_cat_prints_what_is_kept_then_follows(m):
    m.sh('cat "$M/Alpha/status" >/dev/null', check=True)
    f = Follower(m)
    assert f.wait_for("fuse open /Alpha/status 0")  # logged before cat started
    m.sh('cat "$M/Beta/status" >/dev/null', check=True)
    assert f.wait_for("fuse open /Beta/status 0")
    f.stop()


def test_lazy_unmount_while_a_reader_waits_ends_the_daemon(emu, mount_factory):
    m = mount_factory()
    f = Follower(m)
    t0 = time.time()
    subprocess.run(["fusermount3", "-uz", m.path], check=True)
    m.proc.wait(10)
    assert time.time() - t0 < 5
    f.proc.wait(5)
    assert m.proc.returncode == 0, m.stderr()


# ---------------------------------------------------------------------------
# refresh


def test_refresh_relists_refetches_and_coalesces(m, emu):
    read(os.path.join(m.path, "Alpha", "config.json"))
    os.listdir(m.path)
    emu.control("POST", "/_emu/audiences", {"name": "Made elsewhere", "config": CFG})
    emu.clear_log()
    assert "Made elsewhere" not in os.listdir(m.path)  # trusted for cache_timeout
    r = m.sh('echo > "$M/.leadpipe/refresh"; echo now > "$M/.leadpipe/refresh"')
    assert r.returncode == 0, r.stderr
    assert "Made elsewhere" in os.listdir(m.path)
    read(os.path.join(m.path, "Alpha", "config.json"))
    lists = emu.requests("GET", "/v1/intent/audiences")
    assert len([q for q in lists if q["path"] == "/v1/intent/audiences"]) == 1
    alpha = [a["id"] for a in emu.state() if a["name"] == "Alpha"][0]
    gets = [q["path"] for q in lists if q["path"].startswith("/v1/intent/audiences/")]
    assert gets.count("/v1/intent/audiences/" + alpha) == 1  # re-fetched, once
    assert len(gets) == len(set(gets))
    r = m.sh('cat "$M/.leadpipe/refresh" | wc -c')
    assert r.stdout.strip() == "0"
