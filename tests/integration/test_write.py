"""The write side, driven with the real Unix tools on a real mount.

Every test checks what a user would see (exit status, error text, what cat
shows afterwards) and what reached the API (the emulator's request log and
its state): one PATCH per save, one POST, one DELETE, nothing for refusals.
"""
import errno
import json
import os
import re
import shlex
import shutil
import subprocess
import time

import pytest

from conftest import daemon_rss_kib, sanitized_binary

API = "/v1/intent/audiences"
WRITE_METHODS = ("POST", "PATCH", "DELETE", "PUT")

CFG = {"topicIds": [101, 202], "minScore": 70, "maxScore": 99, "minTopicOverlap": 1,
       "filters": {}}


def needs(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    return pytest.mark.skipif(bool(missing), reason="not installed: " + " ".join(missing))


# ---------------------------------------------------------------------------
# Helpers


class Aud:
    """One audience made "elsewhere" in the emulator, seen through a mount."""

    def __init__(self, emu, m, aid, name):
        self.emu, self.m, self.id, self.name = emu, m, aid, name
        self.dir = os.path.join(m.path, name)
        self.cfg = os.path.join(self.dir, "config.json")
        self.status = os.path.join(self.dir, "status")
        self.size = os.path.join(self.dir, "size")
        self.path = API + "/" + aid

    def sh(self, script, **kw):
        env = dict(kw.pop("env", {}), D=self.dir)
        return self.m.sh(script, env=env, **kw)

    def api(self):
        [a] = [a for a in self.emu.state() if a["id"] == self.id]
        return a


def create(emu, name, status="draft", config=CFG):
    body = {"name": name, "status": status, "config": config, "audienceSize": 151}
    return emu.control("POST", "/_emu/audiences", body)["data"]["id"]


def read(path):
    """The bytes cat would show; stat's size must agree (tar, cp rely on it)."""
    with open(path, "rb") as f:
        data = f.read()
    assert os.stat(path).st_size == len(data), path
    return data


def writes(emu):
    """The write requests in the log, as (method, path, body, status)."""
    return [(r["method"], r["path"], r["body"], r["status"])
            for r in emu.log() if r["method"] in WRITE_METHODS]


def assert_requests(emu, expected, max_gets=0):
    """Exactly EXPECTED write requests, and at most MAX_GETS audience GETs.

    The tests read config.json once before clearing the log (the first read
    may fetch the audience); after that every read is served from the cache
    (cache_timeout=30), also right after a write: it holds the API's answer.
    """
    log = emu.log()
    got = [(r["method"], r["path"], r["body"], r["status"])
           for r in log if r["method"] in WRITE_METHODS]
    assert got == expected, json.dumps(log, indent=1)
    gets = [r for r in log if r["method"] == "GET" and r["path"] != API]
    assert len(gets) <= max_gets, gets


def assert_nothing_sent(emu):
    log = emu.log()
    assert [r for r in log if r["method"] in WRITE_METHODS] == [], log


def assert_no_request_when_reading(aud, *paths):
    """Right after a write, the files show the cached API answer: no request."""
    aud.emu.clear_log()
    out = [read(p) for p in paths]
    assert aud.emu.log() == []
    return out


def patch(aud, body):
    return ("PATCH", aud.path, body, 200)


def assert_config_saved_once(aud, want):
    """One PATCH carried want, the API holds it, and config.json shows it with
    no request; returns the bytes cat showed."""
    assert_requests(aud.emu, [patch(aud, {"config": want})])
    assert aud.api()["config"] == want
    [data] = assert_no_request_when_reading(aud, aud.cfg)
    assert data.endswith(b"\n") and json.loads(data) == want
    return data


def config_on_disk(aud):
    data = read(aud.cfg)
    assert data.endswith(b"\n")
    return json.loads(data)


def last_error(aud):
    r = subprocess.run(["getfattr", "--only-values", "-n", "user.leadpipe.lastError", aud.dir],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def dir_entries(path):
    return sorted(os.listdir(path))


FILES = ["config.json", "runs", "size", "status"]  # runs/: the audience's runs


@pytest.fixture
def aud(emu, mount_factory):
    """Audience "Alpha" (draft, CFG) on a fresh mount, its config read once."""
    aid = create(emu, "Alpha")
    m = mount_factory()
    a = Aud(emu, m, aid, "Alpha")
    config_on_disk(a)  # the one GET happens here
    emu.clear_log()
    return a


def cfg_json(**changes):
    c = json.loads(json.dumps(CFG))
    c.update(changes)
    return c


def write_file(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return str(p)


# ---------------------------------------------------------------------------
# status


def test_echo_active_then_paused(aud):
    r = aud.sh('echo active > "$D/status"')
    assert (r.returncode, r.stderr) == (0, "")
    assert_requests(aud.emu, [patch(aud, {"status": "active"})])
    assert aud.api()["status"] == "active"
    assert assert_no_request_when_reading(aud, aud.status) == [b"active\n"]
    assert os.getxattr(aud.dir, "user.leadpipe.status") == b"active"

    aud.emu.clear_log()
    r = aud.sh('echo paused > "$D/status"')
    assert (r.returncode, r.stderr) == (0, "")
    assert_requests(aud.emu, [patch(aud, {"status": "paused"})])
    assert aud.api()["status"] == "paused"
    assert assert_no_request_when_reading(aud, aud.status) == [b"paused\n"]


def test_printf_two_writes_sends_one_patch(aud):
    # bash's printf writes "  active \n" and then "\n" at offset 10.
    r = aud.sh("""printf '  active \\n\\n' > "$D/status" """)
    assert (r.returncode, r.stderr) == (0, "")
    assert_requests(aud.emu, [patch(aud, {"status": "active"})])
    assert read(aud.status) == b"active\n"


def test_word_without_newline_is_sent(aud):
    r = aud.sh('printf paused > "$D/status"')
    assert (r.returncode, r.stderr) == (0, "")
    assert_requests(aud.emu, [patch(aud, {"status": "paused"})])
    assert read(aud.status) == b"paused\n"


@pytest.mark.parametrize("cmd", ["echo", "/usr/bin/echo"])
@pytest.mark.parametrize("word", ["bogus", "Active", "activex", "draft paused"])
def test_other_words_are_einval_and_not_sent(aud, cmd, word):
    r = aud.sh('%s "%s" > "$D/status"' % (cmd, word))
    assert r.returncode == 1
    assert "write error: Invalid argument" in r.stderr
    assert_nothing_sent(aud.emu)
    assert aud.api()["status"] == "draft"
    assert read(aud.status) == b"draft\n"


def test_oversized_status_is_efbig_with_its_own_reason(aud):
    """A status past its 4 KiB buffer: File too large, nothing sent, and
    lastError names status and its limit (it once said config.json's 1 MiB)."""
    r = aud.sh('head -c 5000 /dev/zero | tr "\\0" " " > "$D/status"')
    assert r.returncode == 1
    assert "File too large" in r.stderr
    assert_nothing_sent(aud.emu)
    assert read(aud.status) == b"draft\n"
    assert last_error(aud) == "status is larger than 4096 bytes"


def test_slots_full_is_disk_quota_exceeded(emu, mount_factory):
    emu.control("POST", "/_emu/settings", {"slots": 2})
    create(emu, "On 1", "active")
    create(emu, "On 2", "active")
    aid = create(emu, "Waiting")
    a = Aud(emu, mount_factory(), aid, "Waiting")
    assert read(a.status) == b"draft\n"
    emu.clear_log()

    r = a.sh('echo active > "$D/status"')  # the bash builtin
    assert r.returncode == 1
    assert "write error: Disk quota exceeded" in r.stderr
    assert_requests(emu, [("PATCH", a.path, {"status": "active"}, 403)])
    assert a.api()["status"] == "draft"
    assert assert_no_request_when_reading(a, a.status) == [b"draft\n"]
    assert "All audience slots are in use" in last_error(a)
    assert "All audience slots are in use" in a.m.stderr()

    # Once a slot is free the same command works and the error is history.
    emu.control("POST", "/_emu/settings", {"slots": 3})
    emu.clear_log()
    r = a.sh('echo active > "$D/status"')
    assert (r.returncode, r.stderr) == (0, "")
    assert_requests(emu, [patch(a, {"status": "active"})])
    assert read(a.status) == b"active\n"


def test_slots_full_with_the_sample_data(emu, mount_factory):
    emu.reset(sample=True, slots=8)  # 8 of the 42 are active: no slot left
    [draft] = [x for x in emu.state() if x["name"] == "HR Leaders in Healthcare"]
    assert draft["status"] == "draft"
    a = Aud(emu, mount_factory(), draft["id"], draft["name"])
    emu.clear_log()
    r = a.sh('echo active > "$D/status"; echo "exit=$?"')
    assert "exit=1" in r.stdout
    assert "Disk quota exceeded" in r.stderr
    assert writes(emu) == [("PATCH", a.path, {"status": "active"}, 403)]
    assert read(a.status) == b"draft\n"
    assert sum(x["status"] == "active" for x in emu.state()) == 8


# ---------------------------------------------------------------------------
# config.json with the everyday tools


def test_sed_in_place(aud):
    r = aud.sh("""sed -i -E 's/("minScore": *)[0-9]+/\\180/' "$D/config.json" """)
    assert (r.returncode, r.stderr) == (0, "")
    want = cfg_json(minScore=80)
    data = assert_config_saved_once(aud, want)
    assert b'"minScore": 80,' in data
    assert dir_entries(aud.dir) == FILES


def test_perl_in_place(aud):
    r = aud.sh("""perl -pi -e 's/70/80/' "$D/config.json" """)
    assert (r.returncode, r.stderr) == (0, "")
    want = cfg_json(minScore=80)
    assert_config_saved_once(aud, want)
    assert dir_entries(aud.dir) == FILES


@needs("jq")
def test_jq_then_cp(aud, tmp_path):
    out = str(tmp_path / "c")
    # jq -c: the API's answer (pretty) is what cat shows, not what was written.
    r = aud.sh("""jq -c '.minScore=85' "$D/config.json" > "$OUT" && cp "$OUT" "$D/config.json" """,
               env={"OUT": out})
    assert (r.returncode, r.stderr) == (0, "")
    want = cfg_json(minScore=85)
    data = assert_config_saved_once(aud, want)
    assert b'\n  "minScore": 85,\n' in data


def test_bash_builtin_echo_sees_the_answer(aud):
    aud.emu.fault(method="PATCH", path=aud.path, kind="status", status=422,
                  body={"error": {"code": "VALIDATION_ERROR", "message": "topic 5 is retired"}})
    r = aud.sh("""echo '{"topicIds": [5]}' > "$D/config.json" """)
    assert r.returncode == 1
    assert "write error: Invalid argument" in r.stderr
    assert_requests(aud.emu, [("PATCH", aud.path, {"config": {"topicIds": [5]}}, 422)])
    assert last_error(aud) == "topic 5 is retired"
    assert config_on_disk(aud) == CFG


def test_api_refusal_leaves_the_confirmed_state(aud, tmp_path):
    before = read(aud.cfg)
    aud.emu.fault(method="PATCH", path=aud.path, kind="status", status=400,
                  body={"error": {"code": "VALIDATION_ERROR", "message": "filters: unknown key"}})
    new = write_file(tmp_path, "new.json", json.dumps(cfg_json(minScore=10)))
    r = aud.sh('cp "$NEW" "$D/config.json"', env={"NEW": new})
    assert r.returncode == 1 and "Invalid argument" in r.stderr
    assert writes(aud.emu) == [("PATCH", aud.path, {"config": cfg_json(minScore=10)}, 400)]
    assert read(aud.cfg) == before
    assert aud.api()["config"] == CFG
    assert last_error(aud) == "filters: unknown key"
    assert "filters: unknown key" in aud.m.stderr()


def test_writes_at_offsets_ftruncate_and_pieces(aud):
    text = read(aud.cfg)
    # pwrite in the middle of the file: the rest stays, one PATCH.
    fd = os.open(aud.cfg, os.O_RDWR)
    try:
        assert os.pwrite(fd, b"80", text.index(b"70")) == 2
    finally:
        os.close(fd)
    assert_requests(aud.emu, [patch(aud, {"config": cfg_json(minScore=80)})])

    # ftruncate then a JSON object in pieces: sent once, when complete.
    aud.emu.clear_log()
    fd = os.open(aud.cfg, os.O_RDWR)
    try:
        os.ftruncate(fd, 0)
        for piece in [b'{"topicIds":', b" [3, 4], ", b'"minScore": 5', b"}\n"]:
            assert os.write(fd, piece) == len(piece)
            if piece != b"}\n":
                assert writes(aud.emu) == []
        assert len(writes(aud.emu)) == 1
        os.fsync(fd)
    finally:
        os.close(fd)
    assert_requests(aud.emu, [patch(aud, {"config": {"topicIds": [3, 4], "minScore": 5}})])
    assert config_on_disk(aud) == {"topicIds": [3, 4], "minScore": 5}


def test_shell_block_of_echos_is_one_patch(aud):
    r = aud.sh("""{ echo '{'; echo '  "topicIds": [42],'; echo '  "maxScore": 60'; echo '}'; } \\
                  > "$D/config.json" """)
    assert (r.returncode, r.stderr) == (0, "")
    assert_requests(aud.emu, [patch(aud, {"config": {"topicIds": [42], "maxScore": 60}})])


def test_flush_before_data_sends_nothing(aud):
    before = read(aud.cfg)
    r = aud.sh(': > "$D/config.json"; exec 3> "$D/status"; exec 3>&-')
    assert r.returncode == 0, r.stderr
    assert_nothing_sent(aud.emu)
    assert read(aud.cfg) == before
    assert read(aud.status) == b"draft\n"


# A rewrite in place: the new text lands on the old one, whose tail stays until
# the truncate that comes next. Judged then (and at close), never before.
REWRITES = {
    "python": """/usr/bin/python3 -c '
import json, sys
with open(sys.argv[1], "r+") as f:
    c = json.load(f); c["minScore"] = 5
    f.seek(0); json.dump(c, f); f.truncate()
' "$D/config.json" """,
    "node": """node -e '
const fs = require("fs"), p = process.argv[1];
const c = JSON.parse(fs.readFileSync(p)); c.minScore = 5;
const fd = fs.openSync(p, "r+"), b = Buffer.from(JSON.stringify(c));
fs.writeSync(fd, b, 0, b.length, 0); fs.ftruncateSync(fd, b.length); fs.closeSync(fd);
' "$D/config.json" """,
}


@pytest.mark.parametrize("tool", sorted(REWRITES))
def test_rewrite_in_place_to_shorter_content(aud, tool):
    if shutil.which(tool.replace("python", "python3")) is None:
        pytest.skip("not installed: " + tool)
    r = aud.sh(REWRITES[tool])
    assert (r.returncode, r.stderr) == (0, "")
    assert_config_saved_once(aud, cfg_json(minScore=5))


def test_rewrite_in_place_of_a_bad_config_is_refused_at_truncate(aud):
    r = aud.sh("""/usr/bin/python3 -c '
import sys
with open(sys.argv[1], "r+") as f:
    f.write("{\\"topicIds\\": []}"); f.truncate()
' "$D/config.json" """)
    assert r.returncode == 1 and "Invalid argument" in r.stderr, r.stderr
    assert_nothing_sent(aud.emu)
    assert config_on_disk(aud) == CFG
    assert last_error(aud) == "topicIds must hold 1 to 250 integers"


def test_overwrite_byte_by_byte_sends_only_the_end(aud):
    """dd conv=notrunc bs=1 turns minScore 70 into 95 one byte at a time: "90"
    in between is valid JSON, but old bytes are still after it; one PATCH, at
    close, with 95."""
    offset = read(aud.cfg).index(b"70")
    r = aud.sh('printf 95 | dd of="$D/config.json" bs=1 seek=%d conv=notrunc status=none'
               % offset)
    assert (r.returncode, r.stderr) == (0, "")
    assert_config_saved_once(aud, cfg_json(minScore=95))


def test_emptied_config_is_refused_at_close(aud):
    """An empty config.json is no config: the close that leaves it so fails
    with EINVAL, nothing is sent, cat shows what the API holds, and lastError
    says why. bash drops the error of its own close (`: >`), so there only
    lastError and the log tell."""
    before = read(aud.cfg)
    r = aud.sh('truncate -s 0 "$D/config.json"')
    assert r.returncode == 1 and "Invalid argument" in r.stderr, r.stderr
    assert read(aud.cfg) == before
    assert last_error(aud) == "config.json is empty"
    r = aud.sh('cat /dev/null > "$D/status"')
    assert r.returncode == 1 and "write error: Invalid argument" in r.stderr, r.stderr
    assert read(aud.status) == b"draft\n"
    assert last_error(aud) == "status is empty"

    aud.emu.control("PATCH", "/_emu/audiences/" + aud.id, {})  # no change, keeps the log
    r = aud.sh('echo active > "$D/status"')  # an error is history after a success
    assert (r.returncode, r.stderr) == (0, "")
    r = aud.sh(': > "$D/config.json"')
    assert r.returncode == 0
    assert last_error(aud) == "config.json is empty"
    assert read(aud.cfg) == before
    assert writes(aud.emu) == [patch(aud, {"status": "active"})]
    assert "config.json not sent: config.json is empty" in aud.m.stderr()


# Each command inside a redirected group closes its copy of the descriptor when
# it exits, while the JSON is still unfinished; the shell's own close decides.
GROUPS = {
    "seq and tr": """{ printf '{"topicIds": ['; seq -s, 1 3 | tr -d '\\n'; printf ']}\\n'; } \\
                     > "$D/config.json" """,
    "external printfs": """{ /usr/bin/printf '{"topicIds":'; /usr/bin/printf ' [1, 2'; \\
                          /usr/bin/printf ', 3]}'; } > "$D/config.json" """,
    "exec 3>": """exec 3> "$D/config.json"; /usr/bin/printf '{"topicIds": [1,' >&3
                  /usr/bin/echo ' 2, 3]}' >&3; exec 3>&-""",
}


@pytest.mark.parametrize("case", sorted(GROUPS))
def test_group_redirection_is_one_patch(aud, case):
    r = aud.sh(GROUPS[case])
    assert (r.returncode, r.stderr) == (0, "")
    assert_config_saved_once(aud, {"topicIds": [1, 2, 3]})


def test_group_redirection_in_a_mount_namespace_of_its_own(aud):
    """The shell's descriptors are seen under other mount ids there: still ours."""
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -m is not allowed here")
    r = aud.sh("unshare -m bash -c %s" % shlex.quote(GROUPS["seq and tr"]))
    assert (r.returncode, r.stderr) == (0, "")
    assert_config_saved_once(aud, {"topicIds": [1, 2, 3]})


def test_descriptor_handed_down_to_a_child_shell(aud):
    """A program opens config.json, starts `sh -c` on it and closes its own copy
    at once. The commands sh runs close theirs while the JSON is unfinished:
    sh, their parent, still has it open, so they see no error; the command that
    finishes the JSON sends it."""
    r = aud.sh("""/usr/bin/python3 -c '
import subprocess, sys
f = open(sys.argv[1], "w")
p = subprocess.Popen(["sh", "-c", sys.argv[2]], stdout=f)
try:
    f.close()  # the JSON is empty yet, and this is the opener: EINVAL (documented)
except OSError:
    pass
sys.exit(p.wait())
' "$D/config.json" 'sleep 0.3; /usr/bin/printf "{\\"topicIds\\":"; /usr/bin/printf " [5]}"' """)
    assert (r.returncode, r.stderr) == (0, "")
    assert_config_saved_once(aud, {"topicIds": [5]})


def test_group_redirection_left_unfinished_is_refused(aud):
    """The last close is the shell's: EINVAL there (bash does not show it),
    nothing sent, and the commands inside saw no error."""
    before = read(aud.cfg)
    r = aud.sh("""{ printf '{"topicIds": ['; /usr/bin/printf 1; }> "$D/config.json"; echo "rc=$?" """)
    assert (r.stdout, r.stderr) == ("rc=0\n", "")
    assert_nothing_sent(aud.emu)
    assert read(aud.cfg) == before
    assert last_error(aud) == "config.json ends before its JSON object is complete"


# A status word in several writes: the start of a word waits for the rest.
WORD_PIECES = {
    "dd bs=1": ('printf active | dd bs=1 of="$D/status" status=none', "active"),
    "subshell": ("""(printf pa; printf 'used\\n') > "$D/status" """, "paused"),
    "external pieces": ("""{ /usr/bin/printf '  ac'; /usr/bin/printf 'tive'; } > "$D/status" """,
                        "active"),
}


@pytest.mark.parametrize("case", sorted(WORD_PIECES))
def test_status_word_in_pieces(aud, case):
    command, word = WORD_PIECES[case]
    r = aud.sh(command)
    assert (r.returncode, r.stderr) == (0, "")
    assert_requests(aud.emu, [patch(aud, {"status": word})])
    assert assert_no_request_when_reading(aud, aud.status) == [word.encode() + b"\n"]


@pytest.mark.parametrize("word", ["pa", "activ", "pa used", "pause\\n"])
def test_status_start_of_a_word_alone_is_refused(aud, word):
    r = aud.sh('/usr/bin/printf "%s" > "$D/status"' % word)
    assert r.returncode == 1 and "write error: Invalid argument" in r.stderr, r.stderr
    assert_nothing_sent(aud.emu)
    assert read(aud.status) == b"draft\n"
    assert last_error(aud) == "status must be one of draft, active, paused"


def test_two_writers_in_turn(aud):
    a = cfg_json(minScore=11)
    b = cfg_json(minScore=22)
    fa = os.open(aud.cfg, os.O_WRONLY | os.O_TRUNC)
    fb = os.open(aud.cfg, os.O_WRONLY | os.O_TRUNC)
    try:
        data = json.dumps(a).encode() + b"\n"
        assert os.write(fa, data) == len(data)
        data = json.dumps(b).encode() + b"\n"
        assert os.write(fb, data) == len(data)
    finally:
        os.close(fa)
        os.close(fb)
    assert_requests(aud.emu, [patch(aud, {"config": a}), patch(aud, {"config": b})])
    assert aud.api()["config"] == b
    assert config_on_disk(aud) == b

    # And two shells one after the other, each with its own open file.
    aud.emu.clear_log()
    r = aud.sh("""sed -i 's/22/33/' "$D/config.json" && perl -pi -e 's/33/44/' "$D/config.json" """)
    assert r.returncode == 0, r.stderr
    assert_requests(aud.emu, [patch(aud, {"config": cfg_json(minScore=33)}),
                              patch(aud, {"config": cfg_json(minScore=44)})])
    assert config_on_disk(aud) == cfg_json(minScore=44)


# ---------------------------------------------------------------------------
# config.json refusals: EINVAL / EFBIG, nothing sent, cat unchanged

BAD = {
    "not JSON": b"{bad\n",
    "cut short": b'{"topicIds": [1, 2],\n',
    "not an object": b"[1, 2]\n",
    "two objects": b'{"topicIds": [1]} {"topicIds": [2]}\n',
    "empty topicIds": b'{"topicIds": []}\n',
    "no topicIds": b'{"minScore": 70}\n',
    "topicIds not integers": b'{"topicIds": [1.0, true]}\n',
    "251 topicIds": json.dumps({"topicIds": list(range(1, 252))}).encode(),
    "minScore 100": b'{"topicIds": [1], "minScore": 100}\n',
    "minScore -1": b'{"topicIds": [1], "minScore": -1}\n',
    "maxScore 49": b'{"topicIds": [1], "maxScore": 49}\n',
    "maxScore 100": b'{"topicIds": [1], "maxScore": 100}\n',
    "minTopicOverlap 0": b'{"topicIds": [1], "minTopicOverlap": 0}\n',
    "filters not an object": b'{"topicIds": [1], "filters": []}\n',
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_refused_config_with_cp(aud, tmp_path, case):
    before = read(aud.cfg)
    src = write_file(tmp_path, "bad.json", BAD[case])
    r = aud.sh('cp "$SRC" "$D/config.json"', env={"SRC": src})
    assert r.returncode == 1
    assert "Invalid argument" in r.stderr
    assert_nothing_sent(aud.emu)
    assert read(aud.cfg) == before
    assert aud.api()["config"] == CFG


@pytest.mark.parametrize("case", ["not JSON", "cut short", "empty topicIds", "minScore 100"])
def test_refused_config_with_external_echo(aud, case):
    before = read(aud.cfg)
    r = aud.sh('/usr/bin/printf "%s" "$DATA" > "$D/config.json"',
               env={"DATA": BAD[case].decode()})
    assert r.returncode == 1
    assert "Invalid argument" in r.stderr
    assert_nothing_sent(aud.emu)
    assert read(aud.cfg) == before
    r = aud.sh('/usr/bin/echo "{bad" > "$D/config.json"')
    assert r.returncode == 1 and "write error: Invalid argument" in r.stderr
    assert_nothing_sent(aud.emu)
    assert read(aud.cfg) == before


def test_two_mib_is_file_too_large(aud, tmp_path):
    before = read(aud.cfg)
    # Valid JSON except for its size: one object that closes only at the end.
    big = json.dumps({"topicIds": [1], "filters": {"note": "x" * (2 << 20)}}).encode()
    src = write_file(tmp_path, "big.json", big)
    r = aud.sh('cp "$SRC" "$D/config.json"', env={"SRC": src})
    assert r.returncode == 1
    assert "File too large" in r.stderr
    assert_nothing_sent(aud.emu)
    assert read(aud.cfg) == before
    assert aud.api()["config"] == CFG


def test_one_mib_is_still_accepted(aud, tmp_path):
    body = {"topicIds": [1], "filters": {"note": ""}}
    pad = (1 << 20) - len(json.dumps(body)) - 1
    body["filters"]["note"] = "y" * pad
    data = json.dumps(body).encode() + b"\n"
    assert len(data) == 1 << 20
    src = write_file(tmp_path, "mib.json", data)
    r = aud.sh('cp "$SRC" "$D/config.json"', env={"SRC": src})
    assert (r.returncode, r.stderr) == (0, "")
    assert_requests(aud.emu, [patch(aud, {"config": body})])


# ---------------------------------------------------------------------------
# numbers a double cannot hold: shown and sent back as the API sent them

BIG = 1234567890123456789  # a double holds 1234567890123456768


def test_big_integer_set_elsewhere_survives_an_edit(emu, mount_factory):
    """A filter holding integers beyond 2^53, set elsewhere: cat shows them as
    the API holds them, and sed -i on minScore sends them back unchanged."""
    cfg = cfg_json(filters={"company.ids": [BIG, 9007199254740993]})
    aid = create(emu, "Big", config=cfg)
    a = Aud(emu, mount_factory(), aid, "Big")
    text = read(a.cfg)
    assert b"[1234567890123456789, 9007199254740993]" in text, text
    assert json.loads(text) == cfg
    emu.clear_log()
    r = a.sh('sed -i -E "s/(\\"minScore\\": )70/\\160/" "$D/config.json"')
    assert (r.returncode, r.stderr) == (0, "")
    data = assert_config_saved_once(a, cfg_json(minScore=60, filters=cfg["filters"]))
    assert b"[1234567890123456789, 9007199254740993]" in data


@pytest.mark.parametrize("value", [BIG, BIG - 21], ids=["exact", "rounded"])
def test_big_integer_written_is_sent_as_written(aud, tmp_path, value):
    """Writing such an integer yourself: sent and shown as written, whether it
    is the true value or what a double would make of it."""
    want = cfg_json(filters={"company.ids": [value]})
    r = aud.sh('cp "$SRC" "$D/config.json"',
               env={"SRC": write_file(tmp_path, "c.json", json.dumps(want))})
    assert (r.returncode, r.stderr) == (0, "")
    data = assert_config_saved_once(aud, want)
    assert b"[%d]" % value in data


# ---------------------------------------------------------------------------
# editors


def strace_vim(aud, tmp_path, args, script, status=0):
    trace = str(tmp_path / "vim.trace")
    r = aud.sh('cd "$D" && printf "%s" "$SCRIPT" | strace -f -o "$TRACE" -e trace=%file '
               'vim -i NONE ' + args + ' -es config.json',
               env={"SCRIPT": script, "TRACE": trace, "HOME": str(tmp_path)})
    assert r.returncode == status, r.stderr
    with open(trace) as f:
        return f.read()


def traced(trace, pattern):
    """Whether a syscall matching PATTERN (a regex) appears in the strace output."""
    return re.search(pattern, trace) is not None


VIM_VARIANTS = {
    # -es skips the vimrc; -N gives what /etc/vim/vimrc gives (nocompatible):
    # writebackup, backupcopy=auto, swap file: the rename dance.
    "defaults": "-N",
    "backupcopy=yes": "-N -c 'set backupcopy=yes'",
    "no swap (-n)": "-N -n",
    "compatible (vim -es)": "",
}


@needs("vim", "strace")
@pytest.mark.parametrize("variant", list(VIM_VARIANTS))
def test_vim(aud, tmp_path, variant):
    trace = strace_vim(aud, tmp_path, VIM_VARIANTS[variant], "%s/70/80/\nwq\n")
    want = cfg_json(minScore=80)
    assert_config_saved_once(aud, want)
    assert dir_entries(aud.dir) == FILES

    renamed = traced(trace, r'rename\("config\.json", "config\.json~"\)\s*= 0')
    swap = traced(trace, r'"\.config\.json\.swp", O_RDWR\|O_CREAT\|O_EXCL[|A-Z_]*, 0600\)\s*= \d')
    if variant in ("defaults", "no swap (-n)"):
        assert traced(trace, r'"4913", O_WRONLY\|O_CREAT\|O_EXCL\|O_NOFOLLOW, 0100644\)\s*= \d')
        assert renamed, "vim did not do its backup rename:\n" + trace
        assert traced(trace, r'unlink\("config\.json~"\)\s*= 0')
    else:
        assert not renamed
    assert swap == (variant != "no swap (-n)")


@needs("vim", "strace")
def test_vim_refused_write_keeps_the_confirmed_state(aud, tmp_path):
    before = read(aud.cfg)
    trace = strace_vim(aud, tmp_path, "-N", "%s/70/170/\nw\nq!\n", status=1)
    assert traced(trace, r'rename\("config\.json", "config\.json~"\)\s*= 0')
    # vim puts its backup back (rename config.json~ -> config.json); that
    # rename may re-send the confirmed config, but the refused one never goes.
    assert all(w == patch(aud, {"config": CFG}) for w in writes(aud.emu)), writes(aud.emu)
    assert aud.api()["config"] == CFG
    assert read(aud.cfg) == before
    assert dir_entries(aud.dir) == FILES


class Tmux:
    """One full-screen program in a private tmux server, driven by keys."""

    count = 0

    def __init__(self, cwd, command, home):
        Tmux.count += 1
        self.sock = "lpwt%d-%d" % (os.getpid(), Tmux.count)
        self.home = home
        self.rc_file = os.path.join(home, "rc")
        env = dict(os.environ, HOME=home, TERM="xterm")
        env.pop("TMUX", None)
        subprocess.run(["tmux", "-L", self.sock, "-f", "/dev/null", "new-session", "-d",
                        "-x", "100", "-y", "30", "-c", cwd,
                        "%s; echo $? > %s; sleep 1" % (command, self.rc_file)],
                       env=env, check=True)

    def screen(self):
        return subprocess.run(["tmux", "-L", self.sock, "capture-pane", "-p"],
                              capture_output=True, text=True).stdout

    def wait_for(self, text, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            s = self.screen()
            if text in s:
                return s
            time.sleep(0.05)
        raise AssertionError("%r never appeared on screen:\n%s" % (text, self.screen()))

    def keys(self, *keys):
        subprocess.run(["tmux", "-L", self.sock, "send-keys", *keys], check=True)

    def wait_exit(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if os.path.exists(self.rc_file) and open(self.rc_file).read().endswith("\n"):
                return int(open(self.rc_file).read())
            time.sleep(0.05)
        raise AssertionError("the program did not exit:\n" + self.screen())

    def close(self):
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True)


@needs("vim", "tmux")
def test_vim_interactive_with_the_system_defaults(aud, tmp_path):
    # A clean HOME: /etc/vim/vimrc and defaults.vim, exactly what a user gets.
    t = Tmux(aud.dir, "vim config.json", str(tmp_path))
    try:
        t.wait_for('"minScore": 70')
        t.keys(":%s/70/80/", "Enter")
        t.wait_for('"minScore": 80')
        t.keys(":wq", "Enter")
        assert t.wait_exit() == 0
    finally:
        t.close()
    want = cfg_json(minScore=80)
    assert_config_saved_once(aud, want)
    assert dir_entries(aud.dir) == FILES


@needs("nano", "tmux")
def test_nano(aud, tmp_path):
    t = Tmux(aud.dir, "nano config.json", str(tmp_path))
    try:
        t.wait_for('"minScore": 70')
        t.keys("C-\\")
        t.wait_for("Search (to replace)")
        t.keys("70", "Enter")
        t.wait_for("Replace with")
        t.keys("80", "Enter")
        t.wait_for("Replace this instance")
        t.keys("A")
        t.wait_for("Replaced 1 occurrence")
        t.keys("C-o")
        t.wait_for("File Name to Write")
        t.keys("Enter")
        t.wait_for("Wrote 7 lines")
        t.keys("C-x")
        assert t.wait_exit() == 0
    finally:
        t.close()
    want = cfg_json(minScore=80)
    assert_config_saved_once(aud, want)
    assert dir_entries(aud.dir) == FILES


# ---------------------------------------------------------------------------
# scratch files and renames onto config.json / status


def test_scratch_files_live_and_die_quietly(aud):
    r = aud.sh("""
        set -e
        cd "$D"
        echo swap > .config.json.swp
        chmod 600 .config.json.swp
        printf 'x' > 4913
        rm 4913
        echo temp > sedAbC123
        mv sedAbC123 'config.json~'
        ln -s 'root@host.4242:1700000000' '.#config.json'
        ls -A
        echo ---
        cat 'config.json~'
        readlink '.#config.json'
        stat -c %a .config.json.swp
        rm '.#config.json' 'config.json~' .config.json.swp
        ls -A
    """)
    assert r.returncode == 0, r.stderr
    listing, rest = r.stdout.split("---\n")
    assert sorted(listing.split()) == sorted(FILES + [".config.json.swp", "config.json~",
                                                      ".#config.json"])
    assert rest.split("\n") == ["temp", "root@host.4242:1700000000", "600"] + FILES + [""]
    assert aud.emu.log() == []
    assert dir_entries(aud.dir) == FILES


def test_mv_scratch_onto_config_json_commits(aud, tmp_path):
    good = json.dumps(cfg_json(minScore=55), indent=4) + "\n"
    r = aud.sh('cp "$SRC" "$D/.cfg.tmp" && mv "$D/.cfg.tmp" "$D/config.json"',
               env={"SRC": write_file(tmp_path, "g.json", good)})
    assert (r.returncode, r.stderr) == (0, "")
    assert_requests(aud.emu, [patch(aud, {"config": cfg_json(minScore=55)})])
    assert dir_entries(aud.dir) == FILES
    assert config_on_disk(aud) == cfg_json(minScore=55)


@pytest.mark.parametrize("content", [b'{"topicIds": []}\n', b"{bad\n"])
def test_mv_invalid_scratch_onto_config_json_fails(aud, tmp_path, content):
    before = read(aud.cfg)
    scratch = os.path.join(aud.dir, "sedXYZ12")
    r = aud.sh('cp "$SRC" "$D/sedXYZ12" && mv "$D/sedXYZ12" "$D/config.json"',
               env={"SRC": write_file(tmp_path, "b.json", content)})
    assert r.returncode == 1, r.stderr
    assert_nothing_sent(aud.emu)
    assert read(scratch) == content
    assert read(aud.cfg) == before
    # The errno itself (mv words EINVAL as "a subdirectory of itself").
    with pytest.raises(OSError) as e:
        os.rename(scratch, aud.cfg)
    assert e.value.errno == errno.EINVAL
    assert read(scratch) == content
    assert_nothing_sent(aud.emu)


def test_mv_scratch_onto_status(emu, mount_factory):
    emu.control("POST", "/_emu/settings", {"slots": 1})
    create(emu, "Busy", "active")
    aid = create(emu, "Alpha")
    a = Aud(emu, mount_factory(), aid, "Alpha")
    scratch = os.path.join(a.dir, "st.new")

    r = a.sh('echo paused > "$D/st.new" && mv "$D/st.new" "$D/status"')
    assert (r.returncode, r.stderr) == (0, "")
    assert_requests(emu, [patch(a, {"status": "paused"})])
    assert read(a.status) == b"paused\n"
    assert dir_entries(a.dir) == FILES

    emu.clear_log()
    with open(scratch, "w") as f:
        f.write("active\n")
    with pytest.raises(OSError) as e:
        os.rename(scratch, a.status)
    assert e.value.errno == errno.EDQUOT
    assert writes(emu) == [("PATCH", a.path, {"status": "active"}, 403)]
    assert read(scratch) == b"active\n"
    assert read(a.status) == b"paused\n"
    assert "All audience slots are in use" in last_error(a)


def test_mv_of_a_bad_word_onto_status_is_einval(aud):
    """EINVAL, as for a write of that word; mv words it "cannot move ... to a
    subdirectory of itself" (the man page, ERRORS, says so)."""
    r = aud.sh('echo bogus > "$D/st.new" && mv "$D/st.new" "$D/status"')
    assert r.returncode == 1
    assert "subdirectory of itself" in r.stderr, r.stderr
    assert_nothing_sent(aud.emu)
    assert read(aud.status) == b"draft\n"
    assert read(os.path.join(aud.dir, "st.new")) == b"bogus\n"
    assert "status" in last_error(aud)


MIB = 1 << 20


def df(path):
    """df's size and available bytes (and statvfs, which it reads)."""
    r = subprocess.run(["df", "-B1", "--output=size,used,avail", path], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    size, used, avail = map(int, r.stdout.split("\n")[1].split())
    return size, used, avail


def test_scratch_space_has_a_total_that_df_shows(aud):
    """Thirty 8 MiB scratch files: the total stops at 64 MiB (the default)
    with ENOSPC, the daemon's memory stays near that, and df shows the space
    used and left; removing the files gives it back."""
    assert df(aud.dir) == (64 * MIB, 0, 64 * MIB)
    rss = daemon_rss_kib(aud.m.proc.pid)
    r = aud.sh('cd "$D" && for i in $(seq 30); do head -c 8M /dev/zero > blob$i || echo "$i"; done')
    failed = r.stdout.split()
    assert failed == [str(i) for i in range(9, 31)], r.stdout
    assert "No space left on device" in r.stderr
    if not sanitized_binary():
        assert daemon_rss_kib(aud.m.proc.pid) - rss < 64 * 1024 + 16 * 1024
    assert df(aud.dir) == (64 * MIB, 64 * MIB, 0)
    assert os.stat(os.path.join(aud.dir, "blob8")).st_size == 8 * MIB
    r = aud.sh('cd "$D" && rm blob* && truncate -s 9M big')
    assert r.returncode == 1 and "File too large" in r.stderr  # one file: 8 MiB at most
    assert df(aud.dir) == (64 * MIB, 0, 64 * MIB)
    assert_nothing_sent(aud.emu)


def test_scratch_size_option(emu, mount_factory, tmp_path):
    """-o scratch_size=1M: what fits is kept, what does not is ENOSPC
    (writes and truncate alike), and nothing already written is lost."""
    aid = create(emu, "Alpha")
    a = Aud(emu, mount_factory("scratch_size=1M"), aid, "Alpha")
    assert df(a.dir) == (MIB, 0, MIB)
    data = os.urandom(600 * 1024)
    env = {"SRC": write_file(tmp_path, "one", data)}
    r = a.sh('cd "$D" && cp "$SRC" one && cmp "$SRC" one && head -c 600K /dev/zero > two',
             env=env)
    assert r.returncode == 1 and "No space left on device" in r.stderr, r.stderr
    r = a.sh('cd "$D" && rm two && cmp "$SRC" one && truncate -s 2M one', env=env)
    assert r.returncode == 1 and "No space left on device" in r.stderr, r.stderr
    assert read(os.path.join(a.dir, "one")) == data
    size, used, avail = df(a.dir)
    assert used + avail == size == MIB and used >= len(data)
    assert_nothing_sent(emu)


# ---------------------------------------------------------------------------
# files that are not written: touch, rm, size


def test_touch_sends_nothing(aud):
    before = [read(p) for p in (aud.cfg, aud.status, aud.size)]
    aud.emu.clear_log()
    r = aud.sh('cd "$D" && touch config.json status size')
    assert (r.returncode, r.stderr) == (0, "")
    assert aud.emu.log() == []
    assert [read(p) for p in (aud.cfg, aud.status, aud.size)] == before


def test_rm_is_eperm(aud):
    r = aud.sh('cd "$D" && rm config.json; rm -f status; rm -f size')
    assert r.returncode == 1
    for f in ("config.json", "status", "size"):
        assert "cannot remove '%s': Operation not permitted" % f in r.stderr
    assert dir_entries(aud.dir) == FILES
    assert_nothing_sent(aud.emu)
    with pytest.raises(PermissionError) as e:
        os.unlink(aud.status)
    assert e.value.errno == errno.EPERM


def test_size_is_read_only(aud):
    r = aud.sh('echo 1 > "$D/size"')
    assert r.returncode == 1
    assert "size: Permission denied" in r.stderr
    with pytest.raises(PermissionError) as e:
        os.open(aud.size, os.O_WRONLY)
    assert e.value.errno == errno.EACCES
    assert read(aud.size) == b"151\n"
    assert_nothing_sent(aud.emu)


# ---------------------------------------------------------------------------
# directories: mkdir (pending), mv, rmdir


@pytest.fixture
def root(emu, mount_factory):
    create(emu, "Alpha")
    m = mount_factory()
    emu.clear_log()
    return m


def template_file(tmp_path, **changes):
    return write_file(tmp_path, "template.json", json.dumps(cfg_json(**changes), indent=2) + "\n")


def test_mkdir_cp_mv_rmdir(emu, root, tmp_path):
    m = root
    r = m.sh('mkdir "$M/New audience" && ls -A "$M/New audience" && cat "$M/New audience/status"')
    assert r.returncode == 0, r.stderr
    assert r.stdout == "config.json\nsize\nstatus\ndraft\n"
    pending = json.loads(read(os.path.join(m.path, "New audience", "config.json")))
    assert pending["topicIds"] == []
    assert emu.log() == []
    assert "New audience" in os.listdir(m.path)

    r = m.sh('cp "$T" "$M/New audience/config.json"', env={"T": template_file(tmp_path)})
    assert (r.returncode, r.stderr) == (0, "")
    [created] = emu.by_name("New audience")
    assert created["status"] == "draft" and created["config"] == CFG
    assert writes(emu) == [("POST", API, {"name": "New audience", "status": "draft",
                                          "config": CFG}, 201)] or \
        writes(emu) == [("POST", API, {"name": "New audience", "config": CFG}, 201)]
    emu.clear_log()
    d = os.path.join(m.path, "New audience")
    assert json.loads(read(os.path.join(d, "config.json"))) == CFG
    assert read(os.path.join(d, "status")) == b"draft\n"
    assert os.getxattr(d, "user.leadpipe.id").decode() == created["id"]
    assert emu.log() == []

    path = API + "/" + created["id"]
    r = m.sh('mv "$M/New audience" "$M/Renamed"')
    assert (r.returncode, r.stderr) == (0, "")
    assert writes(emu) == [("PATCH", path, {"name": "Renamed"}, 200)]
    assert [a["name"] for a in emu.state()] == ["Alpha", "Renamed"]
    assert sorted(os.listdir(m.path)) == ["Alpha", "Renamed"]

    emu.clear_log()
    r = m.sh('rmdir "$M/Renamed"')
    assert (r.returncode, r.stderr) == (0, "")
    assert writes(emu) == [("DELETE", path, None, 200)]
    assert [a["name"] for a in emu.state()] == ["Alpha"]
    assert os.listdir(m.path) == ["Alpha"]


def test_pending_status_goes_with_the_post(emu, root, tmp_path):
    m = root
    r = m.sh('mkdir "$M/Launch" && echo active > "$M/Launch/status" && cat "$M/Launch/status"')
    assert (r.returncode, r.stdout, r.stderr) == (0, "active\n", "")
    assert emu.log() == []
    # The template itself (no topics) is refused: still pending, nothing sent.
    r = m.sh('/usr/bin/cat "$M/Launch/config.json" > "$T0" && cp "$T0" "$M/Launch/config.json"',
             env={"T0": str(tmp_path / "t0.json")})
    assert r.returncode == 1 and "Invalid argument" in r.stderr
    assert_nothing_sent(emu)

    r = m.sh('cp "$T" "$M/Launch/config.json"', env={"T": template_file(tmp_path, minScore=60)})
    assert (r.returncode, r.stderr) == (0, "")
    assert writes(emu) == [("POST", API, {"name": "Launch", "status": "active",
                                          "config": cfg_json(minScore=60)}, 201)]
    [a] = emu.by_name("Launch")
    assert a["status"] == "active" and a["config"] == cfg_json(minScore=60)
    assert read(os.path.join(m.path, "Launch", "status")) == b"active\n"


def test_pending_post_refused_by_slots(emu, root, tmp_path):
    emu.control("POST", "/_emu/settings", {"slots": 0})
    m = root
    r = m.sh('mkdir "$M/Launch" && echo active > "$M/Launch/status" && '
             'cp "$T" "$M/Launch/config.json"', env={"T": template_file(tmp_path)})
    assert r.returncode == 1 and "Disk quota exceeded" in r.stderr
    assert [w[0] + str(w[3]) for w in writes(emu)] == ["POST403"]
    assert emu.by_name("Launch") == []
    # Still pending with what the user wrote: nothing silently dropped.
    assert read(os.path.join(m.path, "Launch", "status")) == b"active\n"
    assert json.loads(read(os.path.join(m.path, "Launch", "config.json")))["topicIds"] == []


def test_mkdir_rmdir_pending_sends_nothing(emu, root):
    m = root
    r = m.sh('mkdir "$M/Fleeting" && ls "$M" && rmdir "$M/Fleeting" && ls "$M"')
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout == "Alpha\nFleeting\nAlpha\n"
    assert emu.log() == []


def test_clone_is_mkdir_then_cp_of_status_and_config(emu, mount_factory):
    """The man page's way to copy an audience: one POST with the source's
    config and status. (cp -r cannot: its O_EXCL creates meet the pending
    directory's files, as the man page says.)"""
    create(emu, "Source", status="active")
    m = mount_factory()
    emu.clear_log()
    r = m.sh('mkdir "$M/Copy" && cp "$M/Source/status" "$M/Source/config.json" "$M/Copy/"')
    assert (r.returncode, r.stderr) == (0, "")
    sent = writes(emu)
    assert [(w[0], w[1]) for w in sent] == [("POST", API)], sent
    body = sent[0][2]
    assert body["name"] == "Copy" and body["status"] == "active"
    assert body["config"] == json.loads(read(os.path.join(m.path, "Source", "config.json")))
    assert read(os.path.join(m.path, "Copy", "status")) == b"active\n"
    r = m.sh('cp -r "$M/Source" "$M/Again"')
    assert r.returncode == 1 and "File exists" in r.stderr


def test_mkdir_taken_name_is_eexist(emu, root):
    m = root
    r = m.sh('mkdir "$M/Alpha"')
    assert r.returncode == 1
    assert "File exists" in r.stderr
    r = m.sh('mkdir "$M/Pending" && mkdir "$M/Pending"')
    assert r.returncode == 1 and "File exists" in r.stderr
    assert_nothing_sent(emu)
    assert [a["name"] for a in emu.state()] == ["Alpha"]


def test_mv_to_an_encoded_name_decodes(emu, root):
    m = root
    [alpha] = emu.state()
    r = m.sh('mv "$M/Alpha" "$M/A∕B"')
    assert (r.returncode, r.stderr) == (0, "")
    assert writes(emu) == [("PATCH", API + "/" + alpha["id"], {"name": "A/B"}, 200)]
    assert [a["name"] for a in emu.state()] == ["A/B"]
    assert os.listdir(m.path) == ["A∕B"]
    assert read(os.path.join(m.path, "A∕B", "status")) == b"draft\n"


def test_mv_to_its_own_encoded_name_sends_nothing(emu, root):
    """'Alpha⁓<its id>' decodes to the name Alpha already has: nothing to send."""
    m = root
    [alpha] = emu.state()
    r = m.sh('mv "$M/Alpha" "$M/Alpha\u2053%s" && ls "$M"' % alpha["id"][:8])
    assert (r.returncode, r.stderr, r.stdout) == (0, "", "Alpha\n")
    assert_nothing_sent(emu)
    assert read(os.path.join(m.path, "Alpha", "status")) == b"draft\n"
    assert [a["name"] for a in emu.state()] == ["Alpha"]


def test_rmdir_deletes_once(emu, root):
    m = root
    [alpha] = emu.state()
    r = m.sh('rmdir "$M/Alpha"')
    assert (r.returncode, r.stderr) == (0, "")
    assert writes(emu) == [("DELETE", API + "/" + alpha["id"], None, 200)]
    assert emu.state() == []
    assert os.listdir(m.path) == []


def test_mkdir_of_an_encoded_name_posts_the_decoded_name(emu, root, tmp_path):
    m = root
    r = m.sh('mkdir "$M/Sales∕Ops" && cp "$T" "$M/Sales∕Ops/config.json" && ls "$M"',
             env={"T": template_file(tmp_path)})
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout == "Alpha\nSales∕Ops\n"
    [(method, path, body, status)] = writes(emu)
    assert (method, path, status) == ("POST", API, 201)
    assert (body["name"], body["config"]) == ("Sales/Ops", CFG)
    assert [a["name"] for a in emu.state()] == ["Alpha", "Sales/Ops"]
