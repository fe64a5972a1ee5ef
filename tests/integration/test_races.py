"""What this mount did must survive an answer that crossed it.

A listing requested before `rmdir X` must not bring X back when it lands; a
listing that lands before a POST's answer must not show the new audience
twice; a POST whose answer was lost (dropped connection, timeout) must not
leave the user to create a second audience: the pending directory adopts the
one the API now lists under its name. The emulator's `stall` fault (the
request is carried out, its answer held back) and `delay` fault (the request
is carried out only after the pause) make each race happen every time.

Each test checks what the tools a user types show (ls, cat, cp, mv, rmdir),
what the API received (the emulator's log) and what it holds (its state).
"""
import json
import os
import subprocess
import time

API = "/v1/intent/audiences"
CFG = {"topicIds": [101, 202], "minScore": 70, "maxScore": 99, "minTopicOverlap": 1,
       "filters": {}}
EIO_TEXT = "Input/output error"


def run(*argv, timeout=60):
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)


def ls(m):
    r = run("ls", "-1", "--", m.path)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def wait_for(check, what, limit=10.0):
    deadline = time.monotonic() + limit
    while not check():
        assert time.monotonic() < deadline, "never happened: " + what
        time.sleep(0.02)


def listings(emu):
    return [r for r in emu.log() if r["method"] == "GET" and r["path"] == API]


def writes(emu):
    return [(r["method"], r["path"], r["status"]) for r in emu.log() if r["method"] != "GET"]


def cfg_file(tmp_path, cfg=CFG):
    p = tmp_path / "cfg.json"
    p.write_text(json.dumps(cfg, indent=2) + "\n")
    return str(p)


def xattr_id(path):
    return os.getxattr(path, "user.leadpipe.id").decode()


# ---------------------------------------------------------------- item 2: listings in flight


def test_listing_in_flight_does_not_bring_back_a_deleted_audience(emu, mount_factory):
    """A listing asked for while `rmdir`'s DELETE is on its way (the API
    answers it before it carries out the DELETE) lands after the DELETE
    succeeded: the deleted audience stays deleted, and its name is free for
    `mv` at once."""
    emu.reset(seed=3)
    m = mount_factory("cache_timeout=30")
    gone = "Audience 00002"
    [victim] = emu.by_name(gone)
    assert ls(m) == ["Audience 00001", "Audience 00002", "Audience 00003"]
    # The kernel knows every path used below: they go straight to leadpipefs.
    r = m.sh('stat "$M/%s" "$M/.leadpipe/refresh" && cat "$M/Audience 00003/status"' % gone)
    assert r.returncode == 0, r.stderr
    emu.clear_log()
    # The DELETE is carried out after 2 s; the listing at once, but its
    # answer is held back 3 s.
    emu.fault(method="DELETE", path=API + "/" + victim["id"], kind="delay", seconds=2)
    emu.fault(method="GET", path=API, kind="stall", seconds=3)
    rmdir = subprocess.Popen(["rmdir", os.path.join(m.path, gone)], stderr=subprocess.PIPE,
                             text=True)
    wait_for(lambda: [x for x in emu.log() if x["method"] == "DELETE"], "the DELETE was sent")
    r = m.sh('echo > "$M/.leadpipe/refresh"')
    assert r.returncode == 0, r.stderr
    cat = subprocess.Popen(["cat", os.path.join(m.path, "Audience 00003", "status")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: listings(emu), "the listing reached the API")
    assert emu.by_name(gone), "the DELETE was carried out before the listing: no race"

    assert rmdir.wait(20) == 0, rmdir.stderr.read()
    assert cat.poll() is None, "the listing landed before the DELETE's answer: no race"
    assert cat.wait(20) == 0 and cat.stdout.read() == "paused\n"
    assert [x["status"] for x in listings(emu)] == [200]

    assert gone not in ls(m)
    r = m.sh('cat "$M/%s/status"' % gone)
    assert r.returncode == 1 and "No such file or directory" in r.stderr, r
    r = m.sh('mv "$M/Audience 00001" "$M/%s"' % gone)
    assert (r.returncode, r.stderr) == (0, "")
    assert ls(m) == ["Audience 00002", "Audience 00003"]
    renamed = emu.by_name(gone)[0]["id"]
    assert writes(emu) == [("DELETE", API + "/" + victim["id"], 200),
                           ("PATCH", API + "/" + renamed, 200)]
    assert [a["name"] for a in emu.state()] == ["Audience 00002", "Audience 00003"]
    assert victim["id"] not in [a["id"] for a in emu.state()]


def test_listing_before_the_posts_answer_shows_the_new_audience_once(emu, mount_factory,
                                                                    tmp_path):
    """The POST is carried out, its answer held back; a listing made meanwhile
    already carries the new audience: `ls` shows it once, under the pending
    directory's name, and after the answer it is that directory."""
    emu.reset(seed=1)
    m = mount_factory("cache_timeout=30")
    assert m.sh('mkdir "$M/Fresh"').returncode == 0
    emu.clear_log()
    emu.fault(method="POST", path=API, kind="stall", seconds=2)
    cp = subprocess.Popen(["cp", cfg_file(tmp_path), os.path.join(m.path, "Fresh", "config.json")],
                          stderr=subprocess.PIPE, text=True)
    wait_for(lambda: emu.by_name("Fresh"), "the POST was carried out")

    r = m.sh('echo > "$M/.leadpipe/refresh"')
    assert r.returncode == 0, r.stderr
    during = ls(m)
    assert listings(emu), "no listing was made while the POST's answer was held back"
    assert cp.poll() is None, "the POST's answer was not held back"
    assert during == ["Audience 00001", "Fresh"]

    assert cp.wait(20) == 0, cp.stderr.read()
    [made] = emu.by_name("Fresh")
    assert ls(m) == ["Audience 00001", "Fresh"]
    assert xattr_id(os.path.join(m.path, "Fresh")) == made["id"]
    assert json.loads(open(os.path.join(m.path, "Fresh", "config.json")).read()) == CFG
    assert [w[0] for w in writes(emu)] == ["POST"]
    assert [a["name"] for a in emu.state()] == ["Audience 00001", "Fresh"]


# ---------------------------------------------------------------- item 3: a POST's answer lost


def test_post_answer_lost_adopts_the_audience(emu, mount_factory, tmp_path):
    """The API creates the audience and the connection drops before its
    answer: cp succeeds (the directory adopts what the API lists under its
    name), and the API ends up with exactly one audience of that name, even
    for a user who retries on any error."""
    emu.reset(seed=1)
    m = mount_factory("cache_timeout=30,timeout=2,tries=3")
    assert m.sh('mkdir "$M/Launch" && echo active > "$M/Launch/status"').returncode == 0
    emu.clear_log()
    emu.fault(method="POST", path=API, kind="drop", process=True)
    src = cfg_file(tmp_path)
    r = m.sh('cp "$S" "$M/Launch/config.json" || cp "$S" "$M/Launch/config.json"',
             env={"S": src})
    assert (r.returncode, r.stderr) == (0, "")

    made = emu.by_name("Launch")
    assert len(made) == 1, "the API holds %d audiences named Launch" % len(made)
    assert [w[0] for w in writes(emu)] == ["POST"]
    assert made[0]["status"] == "active" and made[0]["config"] == CFG
    assert ls(m) == ["Audience 00001", "Launch"]
    d = os.path.join(m.path, "Launch")
    assert xattr_id(d) == made[0]["id"]
    assert open(os.path.join(d, "status")).read() == "active\n"
    assert json.loads(open(os.path.join(d, "config.json")).read()) == CFG
    # It is a real audience now: rmdir deletes it.
    emu.clear_log()
    assert m.sh('rmdir "$M/Launch"').returncode == 0
    assert writes(emu) == [("DELETE", API + "/" + made[0]["id"], 200)]
    assert emu.by_name("Launch") == []


def test_slow_post_then_retry_adopts_instead_of_posting_again(emu, mount_factory, tmp_path):
    """The API carries out the POST only after the client gave up (timeout=1,
    the POST delayed 2 s): cp fails with EIO, as nothing could be seen yet.
    The user retries once the API has it: the retry finds it under the
    directory's name and adopts it; no second POST, one audience."""
    emu.reset(seed=1)
    m = mount_factory("cache_timeout=30,timeout=1,tries=2")
    assert m.sh('mkdir "$M/Slow"').returncode == 0
    emu.clear_log()
    emu.fault(method="POST", path=API, kind="delay", seconds=2)
    src = cfg_file(tmp_path)
    r = m.sh('cp "$S" "$M/Slow/config.json"', env={"S": src})
    assert r.returncode == 1 and EIO_TEXT in r.stderr, r
    wait_for(lambda: emu.by_name("Slow"), "the delayed POST was carried out")
    assert ls(m) == ["Audience 00001", "Slow"]

    r = m.sh('cp "$S" "$M/Slow/config.json"', env={"S": src})
    assert (r.returncode, r.stderr) == (0, "")
    made = emu.by_name("Slow")
    assert len(made) == 1, "the API holds %d audiences named Slow" % len(made)
    assert [w[0] for w in writes(emu)] == ["POST"]
    assert made[0]["config"] == CFG
    assert ls(m) == ["Audience 00001", "Slow"]
    assert xattr_id(os.path.join(m.path, "Slow")) == made[0]["id"]


def lost_post(emu, m, tmp_path, name):
    """mkdir NAME, then a cp whose POST the API carries out only after the
    client gave up (timeout=1, the POST delayed 2 s): EIO. Returns once the
    API has the audience."""
    assert m.sh('mkdir "$M/%s"' % name).returncode == 0
    emu.clear_log()
    emu.fault(method="POST", path=API, kind="delay", seconds=2)
    r = m.sh('cp "$S" "$M/%s/config.json"' % name, env={"S": cfg_file(tmp_path)})
    assert r.returncode == 1 and EIO_TEXT in r.stderr, r
    wait_for(lambda: emu.by_name(name), "the delayed POST was carried out")
    return emu.by_name(name)[0]


def test_lost_post_is_adopted_by_the_next_listing(emu, mount_factory, tmp_path):
    """After the lost answer, the next listing that carries the audience makes
    it the directory's: one entry, with the API's id, whose config is what
    was written."""
    emu.reset(seed=1)
    m = mount_factory("cache_timeout=30,timeout=1,tries=2")
    made = lost_post(emu, m, tmp_path, "Later")
    assert m.sh('echo > "$M/.leadpipe/refresh"').returncode == 0
    assert ls(m) == ["Audience 00001", "Later"]
    d = os.path.join(m.path, "Later")
    assert xattr_id(d) == made["id"]
    assert json.loads(open(os.path.join(d, "config.json")).read()) == CFG
    assert [w[0] for w in writes(emu)] == ["POST"]


def test_rmdir_after_a_lost_post_deletes_what_it_made(emu, mount_factory, tmp_path):
    """rmdir of the directory whose POST lost its answer: the API made the
    audience, so rmdir deletes it there too (a pending directory alone would
    go without a request, leaving the audience behind)."""
    emu.reset(seed=1)
    m = mount_factory("cache_timeout=30,timeout=1,tries=2")
    made = lost_post(emu, m, tmp_path, "Unwanted")
    r = m.sh('rmdir "$M/Unwanted"')
    assert (r.returncode, r.stderr) == (0, "")
    assert writes(emu) == [("POST", API, 201), ("DELETE", API + "/" + made["id"], 200)]
    assert emu.by_name("Unwanted") == []
    assert ls(m) == ["Audience 00001"]
