"""Runs and results (SPEC "Runs and results", "The runs tree", "results.csv"):
an audience's runs/ directory, results.csv byte for byte from a local cache
(read while its download runs), queueing and cancelling runs, and what
happens when downloads go wrong.
Driven with ls, cat, stat, cmp, head, wc, cp, tar, rsync, python's csv.
"""
import csv
import errno
import io
import json
import os
import subprocess
import time
import urllib.request

import pytest

from conftest import KEY

CTL_REFRESH = ".leadpipe/refresh"
CFG = {"topicIds": [117805], "minScore": 70, "maxScore": 99, "minTopicOverlap": 1,
       "filters": {}}


def create(emu, name, status="active"):
    # Runs move only when a test says so (the emulator's timers are off).
    emu.control("POST", "/_emu/settings", {"run_queue_s": None, "run_duration_s": None})
    body = {"name": name, "status": status, "config": CFG}
    return emu.control("POST", "/_emu/audiences", body)["data"]["id"]


def add_run(emu, aid, **fields):
    return emu.control("POST", "/_emu/audiences/%s/runs" % aid, fields)["data"]


def emu_runs(emu, aid):
    return emu.control("GET", "/_emu/runs?audienceId=" + aid)["runs"]


def export_bytes(emu, aid, rid):
    req = urllib.request.Request(
        "%s/v1/intent/audiences/%s/runs/%s/export.csv" % (emu.url, aid, rid),
        headers={"x-api-key": KEY})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read()


def dirname(run):
    t = run["createdAt"]
    return "%s-%s-%s" % (t[:10] + "T" + t[11:13] + t[14:16] + t[17:19] + "Z",
                         run.get("runType") or "run", run["id"][:8])


def read(path):
    with open(path, "rb") as f:
        return f.read()


def exports(emu):
    return [r for r in emu.requests("GET") if r["path"].endswith("/export.csv")]


def runs_lists(emu):
    return [r for r in emu.requests("GET") if r["path"].endswith("/runs")]


def wait_cached(cache, run, timeout=10):
    """Waits until run's download became a file of the cache: a reader does not
    wait for the part's fsync and rename, so the order in which files enter the
    cache (and which one a bound drops) follows the downloads, not the reads."""
    f = cache / run["id"]  # a uuid: its own file name
    deadline = time.monotonic() + timeout
    while not f.exists():
        assert time.monotonic() < deadline, "%s never became a cached file" % f
        time.sleep(0.02)


@pytest.fixture
def aud(emu, mount_factory):
    """Audience "Alpha" with a completed daily run and a queued one."""
    aid = create(emu, "Alpha")
    done = add_run(emu, aid, status="completed", rows=40, createdAt="2026-11-25T04:00:00.000Z",
                   completedAt="2026-11-25T05:00:00.000Z", updatedAt="2026-11-25T05:00:00.000Z")
    queued = add_run(emu, aid, runType="daily", createdAt="2026-11-26T04:00:00.000Z",
                     updatedAt="2026-11-26T04:00:00.000Z")
    m = mount_factory()
    emu.clear_log()

    class A:
        pass
    a = A()
    a.emu, a.m, a.id, a.done, a.queued = emu, m, aid, done, queued
    a.runs = os.path.join(m.path, "Alpha", "runs")
    a.done_dir = os.path.join(a.runs, dirname(done))
    a.csv = os.path.join(a.done_dir, "results.csv")
    return a


# ---------------------------------------------------------------------------
# the tree


def test_runs_tree_names_status_and_attributes(aud):
    names = sorted(os.listdir(aud.runs))
    assert names == sorted(["queue", "latest", dirname(aud.done), dirname(aud.queued)])
    assert os.readlink(os.path.join(aud.runs, "latest")) == dirname(aud.done)
    assert read(os.path.join(aud.runs, "latest", "status")) == b"completed\n"
    assert read(os.path.join(aud.runs, dirname(aud.queued), "status")) == b"queued\n"
    assert sorted(os.listdir(aud.done_dir)) == ["results.csv", "stats.json", "status"]
    assert os.listdir(os.path.join(aud.runs, dirname(aud.queued))) == ["status"]
    assert read(os.path.join(aud.runs, "queue")) == b""
    r = aud.m.sh('getfattr -d "%s"' % aud.done_dir, check=True)
    assert 'user.leadpipe.id="%s"' % aud.done["id"] in r.stdout
    assert 'user.leadpipe.status="completed"' in r.stdout
    assert 'user.leadpipe.resultCount="40"' in r.stdout
    r = aud.m.sh('ls -t "%s"' % aud.runs, check=True)
    ts = [x for x in r.stdout.split() if x not in ("queue", "latest")]
    assert ts == [dirname(aud.queued), dirname(aud.done)]
    # One list request for all of this.
    assert len(runs_lists(aud.emu)) == 1


def test_stats_json_is_the_apis_stats_once(aud):
    path = os.path.join(aud.done_dir, "stats.json")
    data = read(path)
    assert data.endswith(b"\n") and data.startswith(b"{\n  \"")
    assert json.loads(data)["total"] == 40
    assert read(path) == data
    assert len([r for r in aud.emu.requests("GET") if r["path"].endswith("/stats")]) == 1


def test_a_pending_audience_has_no_runs(emu, mount_factory):
    m = mount_factory()
    r = m.sh('mkdir "$M/New one" && ls "$M/New one" && ls "$M/New one/runs"')
    assert r.stdout.split() == ["config.json", "size", "status"]
    assert "No such file or directory" in r.stderr


def test_listing_audiences_sends_no_runs_request(emu, mount_factory):
    for i in range(5):
        aid = create(emu, "A%d" % i)
        add_run(emu, aid, status="completed", rows=3)
    m = mount_factory()
    emu.clear_log()
    m.sh('ls -l "$M" >/dev/null; cat "$M"/*/size "$M"/*/status >/dev/null; ls "$M"/* >/dev/null',
         check=True)
    assert runs_lists(emu) == []


def test_latest_status_over_many_audiences_lists_each_once_in_parallel(emu, mount_factory):
    for i in range(250):
        aid = create(emu, "P%03d" % i)
        add_run(emu, aid, status="completed", rows=2)
    emu.control("POST", "/_emu/settings", {"latency_ms": 100})
    m = mount_factory()
    emu.clear_log()
    r = m.sh('cat "$M"/*/runs/latest/status | sort | uniq -c', check=True, timeout=120)
    assert r.stdout.split() == ["250", "completed"]
    lists = runs_lists(emu)
    assert len(lists) == 250
    assert len({q["path"] for q in lists}) == 250  # one per audience
    # In flight together (bounded): several arrived within one answer's latency.
    ts = sorted(q["t"] for q in lists)
    assert max(sum(1 for t in ts if t0 <= t < t0 + 0.08) for t0 in ts) >= 4


def test_latest_follows_a_run_completed_elsewhere(emu, mount_factory):
    aid = create(emu, "Alpha")
    first = add_run(emu, aid, status="completed", rows=2, createdAt="2026-11-20T04:00:00.000Z")
    second = add_run(emu, aid, createdAt="2026-11-21T04:00:00.000Z")
    m = mount_factory("cache_timeout=1")
    latest = os.path.join(m.path, "Alpha", "runs", "latest")
    assert os.readlink(latest) == dirname(first)
    emu.control("POST", "/_emu/runs/%s/complete" % second["id"], {"rows": 3})
    time.sleep(1.3)
    assert os.readlink(latest) == dirname(second)
    assert read(os.path.join(latest, "status")) == b"completed\n"


# ---------------------------------------------------------------------------
# results.csv


def test_results_csv_size_bytes_and_tools(aud, tmp_path):
    want = export_bytes(aud.emu, aud.id, aud.done["id"])
    aud.emu.clear_log()
    r = aud.m.sh('stat -c %%s "%s"; wc -c < "%s"' % (aud.csv, aud.csv), check=True)
    size, count = r.stdout.split()
    assert int(size) == int(count) == len(want)
    assert len(exports(aud.emu)) == 1
    local = tmp_path / "want.csv"
    local.write_bytes(want)
    aud.m.sh('cmp "%s" "%s"' % (aud.csv, local), check=True)
    assert "\u00e9".encode() in want or "\u00fc".encode() in want  # unicode rows
    r = aud.m.sh('wc -l < "%s"' % aud.csv, check=True)
    assert int(r.stdout) == want.count(b"\n")
    r = aud.m.sh('head -3 "%s"' % aud.csv, check=True)
    assert r.stdout.encode() == b"".join(want.splitlines(keepends=True)[:3])
    rows = list(csv.reader(io.StringIO(read(aud.csv).decode())))
    assert len(rows) == 41 and rows[0][0]  # header + 40 people, quoted fields parsed
    r = subprocess.run(["python3", "-c", "import csv,sys; print(sum(1 for _ in csv.reader("
                        "open(sys.argv[1], newline=''))))", aud.csv],
                       capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "41"
    dest = tmp_path / "copy"
    aud.m.sh('cp "%s" "%s"' % (aud.csv, dest), check=True)
    assert dest.read_bytes() == want
    aud.m.sh('cp -r "%s" "%s/run" && tar cf "%s/run.tar" -C "%s" . && rsync -a "%s/" "%s/rs/"'
             % (aud.done_dir, tmp_path, tmp_path, aud.done_dir, aud.done_dir, tmp_path),
             check=True)
    assert (tmp_path / "run" / "results.csv").read_bytes() == want
    assert (tmp_path / "rs" / "results.csv").read_bytes() == want
    r = aud.m.sh('tar xOf "%s/run.tar" ./results.csv | cmp - "%s"' % (tmp_path, local))
    assert r.returncode == 0, r.stderr
    assert len(exports(aud.emu)) == 1  # every read after the first: no request


def test_cache_survives_a_remount(emu, mount_factory, tmp_path):
    aid = create(emu, "Alpha")
    run = add_run(emu, aid, status="completed", rows=25)
    cache = tmp_path / "cache"
    m = mount_factory("cache_dir=%s" % cache)
    path = os.path.join(m.path, "Alpha", "runs", dirname(run), "results.csv")
    data = read(path)
    # Unmounted at once: the read did not wait for the part's fsync and
    # rename, but the download, whole, still becomes a cached file.
    m.close()
    m.check_clean_exit()
    assert oct(os.stat(cache).st_mode & 0o777) == "0o700"
    files = [p for p in cache.rglob("*") if p.is_file()]
    assert files and all(oct(p.stat().st_mode & 0o777) == "0o600" for p in files)
    assert not [p for p in files if p.name.endswith(".part")]
    emu.clear_log()
    m2 = mount_factory("cache_dir=%s" % cache)
    assert read(os.path.join(m2.path, "Alpha", "runs", dirname(run), "results.csv")) == data
    assert exports(emu) == []


def test_tiny_bound_drops_least_recently_used_but_never_an_open_file(emu, mount_factory,
                                                                      tmp_path):
    aid = create(emu, "Alpha")
    runs = [add_run(emu, aid, status="completed", rows=400,
                    createdAt="2026-11-2%dT04:00:00.000Z" % i) for i in range(3)]
    size = len(export_bytes(emu, aid, runs[0]["id"]))
    cache = tmp_path / "c"
    m = mount_factory("cache_dir=%s,cache_size=%d" % (cache, size * 2 + size // 2))
    base = os.path.join(m.path, "Alpha", "runs")
    paths = [os.path.join(base, dirname(r), "results.csv") for r in runs]
    held = open(paths[0], "rb")  # pinned while open
    try:
        first = held.read(10)
        wait_cached(cache, runs[0])
        read(paths[1])
        wait_cached(cache, runs[1])
        read(paths[2])  # over the bound: 1 is the least recently used unpinned
        wait_cached(cache, runs[2])
        emu.clear_log()
        assert held.read() and first
        read(paths[0])
        assert exports(emu) == []  # the open one was never dropped
        read(paths[1])
        assert len(exports(emu)) == 1  # dropped, fetched again
    finally:
        held.close()


# ---------------------------------------------------------------------------
# reading while the download runs

BIG = 4000000  # bytes of export: room for a stall well past the first reads


def big_run(emu, mount_factory, options="cache_timeout=30"):
    """A completed run of about BIG bytes on a fresh mount: (want, mount, path)."""
    aid = create(emu, "Alpha")
    run = add_run(emu, aid, status="completed", targetBytes=BIG)
    want = export_bytes(emu, aid, run["id"])
    m = mount_factory(options)
    emu.clear_log()
    return want, m, os.path.join(m.path, "Alpha", "runs", dirname(run), "results.csv")


def test_the_first_bytes_come_before_the_download_ends(emu, mount_factory):
    want, m, path = big_run(emu, mount_factory)
    emu.fault(kind="stall", after_bytes=2000000, seconds=4, suffix="/export.csv")
    t0 = time.monotonic()
    assert os.stat(path).st_size == len(want)  # the Content-Length, at once
    head = subprocess.run(["head", "-c", "1000", path], capture_output=True, timeout=30)
    took = time.monotonic() - t0
    assert head.returncode == 0 and head.stdout == want[:1000]
    assert took < 2.5, took  # not after the 4 s stall
    # head closed the file mid-download; the download went on and is the one
    # the whole read gets, past the stall.
    assert read(path) == want
    assert time.monotonic() - t0 > 3.5  # the stall was real
    assert len(exports(emu)) == 1


def test_a_read_past_a_stall_that_fails_gets_eio(emu, mount_factory):
    want, m, path = big_run(emu, mount_factory, "timeout=1,tries=1")
    emu.fault(kind="stall", after_bytes=1000000, seconds=5, suffix="/export.csv")
    with open(path, "rb", buffering=0) as f:
        assert f.read(1000) == want[:1000]  # before the stall: served
        f.seek(3000000)
        t0 = time.monotonic()
        with pytest.raises(OSError) as e:
            f.read(1000)
        assert e.value.errno == errno.EIO
        assert time.monotonic() - t0 < 4.5  # the stall's cut-off (timeout=1), not its end
        with pytest.raises(OSError):  # and for good: that download failed
            f.read(1000)
    # Never served as complete: a new open fetches it again, whole.
    assert read(path) == want
    assert os.stat(path).st_size == len(want)
    assert len(exports(emu)) == 2


def test_two_readers_share_one_download(emu, mount_factory, tmp_path):
    want, m, path = big_run(emu, mount_factory)
    emu.fault(kind="stall", after_bytes=1000000, seconds=1, suffix="/export.csv")
    m.sh('cat "%s" > "%s/a" & cat "%s" > "%s/b"; wait' % (path, tmp_path, path, tmp_path),
         check=True)
    assert (tmp_path / "a").read_bytes() == want
    assert (tmp_path / "b").read_bytes() == want
    assert len(exports(emu)) == 1


def test_unmount_mid_download_stops_it_and_keeps_nothing(emu, mount_factory, tmp_path):
    cache = tmp_path / "cache"
    want, m, path = big_run(emu, mount_factory, "cache_dir=%s" % cache)
    emu.fault(kind="stall", after_bytes=100000, seconds=15, suffix="/export.csv")
    t0 = time.monotonic()
    assert os.stat(path).st_size == len(want)
    assert time.monotonic() - t0 < 2
    assert [p.name for p in cache.rglob("*.part")]  # being written
    t0 = time.monotonic()
    m.close()
    assert time.monotonic() - t0 < 5  # neither the 15 s stall nor the 20 s timeout
    m.check_clean_exit()
    assert [p for p in cache.rglob("*") if p.is_file()] == []  # the part discarded
    # Fetched whole by the next mount.
    m2 = mount_factory("cache_dir=%s" % cache)
    assert read(os.path.join(m2.path, os.path.relpath(path, m.path))) == want


# ---------------------------------------------------------------------------
# queue and cancel


def test_queue_manual_posts_once_and_shows_the_run_at_once(aud):
    r = aud.m.sh('echo manual > "%s/queue"' % aud.runs)
    assert r.returncode == 0, r.stderr
    posts = aud.emu.requests("POST")
    assert len(posts) == 1 and posts[0]["body"] == {"runType": "manual"}
    assert posts[0].get("idempotencyKey")
    new = [x for x in emu_runs(aud.emu, aud.id) if x["runType"] == "manual"]
    assert len(new) == 1
    assert dirname(new[0]) in os.listdir(aud.runs)


def test_queue_retry_after_a_lost_answer_reuses_the_key(aud):
    aud.emu.fault(method="POST", kind="drop", process=True, suffix="/runs")
    r = aud.m.sh('echo manual > "%s/queue"' % aud.runs)
    assert r.returncode == 0, r.stderr
    posts = aud.emu.requests("POST")
    assert len(posts) == 2
    assert posts[0]["idempotencyKey"] == posts[1]["idempotencyKey"]
    assert len([x for x in emu_runs(aud.emu, aud.id) if x["runType"] == "manual"]) == 1


def test_queue_refuses_other_words(aud):
    r = aud.m.sh('echo weekly > "%s/queue"' % aud.runs)
    assert r.returncode == 1 and "Invalid argument" in r.stderr
    assert aud.emu.requests("POST") == []


def test_rmdir_cancels_a_queued_run_and_refuses_others(aud):
    q = os.path.join(aud.runs, dirname(aud.queued))
    os.rmdir(q)
    deletes = aud.emu.requests("DELETE")
    assert len(deletes) == 1 and deletes[0]["path"].endswith(aud.queued["id"])
    assert read(os.path.join(q, "status")) == b"cancelled\n"
    with pytest.raises(OSError) as e:
        os.rmdir(aud.done_dir)
    assert e.value.strerror == "Device or resource busy"
    running = add_run(aud.emu, aud.id, status="running", createdAt="2026-11-27T04:00:00.000Z")
    with open(os.path.join(aud.m.path, CTL_REFRESH), "w") as f:  # see it now
        f.write("x")
    with pytest.raises(OSError) as e:
        os.rmdir(os.path.join(aud.runs, dirname(running)))
    assert e.value.strerror == "Device or resource busy"
    assert [x["status"] for x in emu_runs(aud.emu, aud.id) if x["id"] == running["id"]] == \
        ["running"]
    assert [x["status"] for x in emu_runs(aud.emu, aud.id) if x["id"] == aud.done["id"]] == \
        ["completed"]


def test_nothing_else_can_be_made_in_runs(aud):
    r = aud.m.sh('mkdir "%s/x"; touch "%s/x"; mv "%s/latest" "%s/y"; echo x > "%s/status"'
                 % (aud.runs, aud.runs, aud.runs, aud.runs, aud.done_dir))
    assert r.stderr.count("Operation not permitted") >= 3
    assert "Permission denied" in r.stderr or "Read-only" in r.stderr
    assert aud.emu.requests("POST") == [] and aud.emu.requests("DELETE") == []


# ---------------------------------------------------------------------------
# downloads that go wrong


def test_stalled_download_fails_eio_and_nothing_partial_is_served(emu, mount_factory):
    aid = create(emu, "Alpha")
    run = add_run(emu, aid, status="completed", rows=2000)
    m = mount_factory("timeout=1,tries=2")
    emu.fault(kind="stall", after_bytes=1000, seconds=4, suffix="/export.csv", count=2)
    path = os.path.join(m.path, "Alpha", "runs", dirname(run), "results.csv")
    r = m.sh('cat "%s" > /dev/null' % path, timeout=60)
    assert r.returncode == 1 and "Input/output error" in r.stderr
    assert read(path) == export_bytes(emu, aid, run["id"])  # fetched whole next time


@pytest.mark.parametrize("fault", [{"kind": "cut", "after_bytes": 5000},
                                   {"kind": "length", "delta": -100},
                                   {"kind": "length", "delta": 100},
                                   {"kind": "status", "status": 503}])
def test_a_bad_first_download_is_fetched_again(emu, mount_factory, fault):
    aid = create(emu, "Alpha")
    run = add_run(emu, aid, status="completed", rows=500)
    m = mount_factory()
    emu.fault(suffix="/export.csv", **fault)
    path = os.path.join(m.path, "Alpha", "runs", dirname(run), "results.csv")
    assert read(path) == export_bytes(emu, aid, run["id"])
    assert os.stat(path).st_size == len(read(path))


def test_a_length_that_always_disagrees_is_never_served(emu, mount_factory):
    aid = create(emu, "Alpha")
    run = add_run(emu, aid, status="completed", rows=500)
    m = mount_factory("tries=2")
    emu.fault(suffix="/export.csv", kind="length", delta=-100, count=10)
    path = os.path.join(m.path, "Alpha", "runs", dirname(run), "results.csv")
    r = m.sh('cat "%s" > /dev/null' % path)
    assert r.returncode == 1 and "Input/output error" in r.stderr


def test_an_unusable_cache_dir_gives_eio_with_a_reason(emu, mount_factory, tmp_path):
    aid = create(emu, "Alpha")
    run = add_run(emu, aid, status="completed", rows=5)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    m = mount_factory("cache_dir=%s" % (blocker / "cache"))
    path = os.path.join(m.path, "Alpha", "runs", dirname(run), "results.csv")
    r = m.sh('cat "%s"' % path)
    assert r.returncode == 1 and "Input/output error" in r.stderr
    assert "results cache" in m.stderr()
    assert read(os.path.join(m.path, "Alpha", "status")) == b"active\n"  # the rest works


def test_rmdir_frees_what_runs_showed(emu, mount_factory):
    """An audience whose runs/ was looked at is freed once deleted, runs/ and
    run directories included (each of those nodes held the audience, so it
    stayed in memory until unmount). statfs counts the nodes held (df -i)."""
    if not os.access("/proc/sys/vm/drop_caches", os.W_OK):
        pytest.skip("needs root to drop the kernel's caches")
    for i in range(5):
        aid = create(emu, "A%d" % i)
        add_run(emu, aid, status="completed", rows=5)
        add_run(emu, aid, status="queued")
    m = mount_factory()
    r = m.sh('ls "$M"/*/runs/ "$M"/*/runs/*/ >/dev/null && cat "$M"/A0/runs/latest/status '
             '"$M"/*/runs/queue >/dev/null && rmdir "$M"/A*')
    assert (r.returncode, r.stderr) == (0, "")
    for _ in range(2):
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("2\n")
        time.sleep(0.3)  # the kernel's FORGETs reach the daemon
    empty = mount_factory()  # the same API, now without audiences
    assert os.listdir(empty.path) == []
    assert os.statvfs(m.path).f_files == os.statvfs(empty.path).f_files
