"""test_emulator.py - self-test of the Leadpipe API emulator (run: pytest-3 tests/emulator).

Starts leadpipe_emu.py as a subprocess on port 0 and checks the contract in
README.md from the outside, over HTTP, the way the C client will see it.
"""

import calendar
import http.client
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

EMU = os.path.join(os.path.dirname(os.path.abspath(__file__)), "leadpipe_emu.py")
PY = "/usr/bin/python3"
KEY = "sk_test_emulator"
BASE = "/v1/intent/audiences"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
GOOD_CONFIG = {"topicIds": [117805, 117890], "minScore": 70, "maxScore": 99,
               "minTopicOverlap": 1, "filters": {"contact.hasBusinessEmail": True}}


class Emu:
    """One emulator process; requests through urllib (a new connection each)."""

    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="lpemu-")
        self.port_file = os.path.join(self.dir, "port")
        self.started = time.monotonic()
        self.proc = subprocess.Popen([PY, EMU, "--port-file", self.port_file, "--quiet", *args])
        deadline = time.monotonic() + 15
        while not os.path.exists(self.port_file):
            assert self.proc.poll() is None, "emulator exited early"
            assert time.monotonic() < deadline, "emulator did not write its port file"
            time.sleep(0.02)
        self.startup = time.monotonic() - self.started
        with open(self.port_file) as fh:
            text = fh.read()
        assert re.fullmatch(r"\d+\n", text)
        self.port = int(text)

    def req(self, method, path, body=None, key=KEY, raw=None, timeout=10):
        """(status, headers, parsed JSON or raw bytes when not JSON)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        r = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), data=data,
                                   method=method)
        if key is not None:
            r.add_header("x-api-key", key)
        if data is not None:
            r.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(r, timeout=timeout) as resp:
                status, headers, payload = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            status, headers, payload = e.code, e.headers, e.read()
        try:
            return status, headers, json.loads(payload)
        except ValueError:
            return status, headers, payload

    def api(self, method, path, body=None, **kw):
        status, _, payload = self.req(method, path, body, **kw)
        return status, payload

    def ctl(self, method, path, body=None):
        status, _, payload = self.req(method, "/_emu" + path, body, key=None)
        assert status in (200, 201), (path, status, payload)
        return payload

    def state(self):
        return self.ctl("GET", "/state")["audiences"]

    def log(self):
        return self.ctl("GET", "/log")["requests"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)


@pytest.fixture(scope="module")
def emu_proc():
    e = Emu("--empty")
    yield e
    e.stop()


@pytest.fixture
def emu(emu_proc):
    emu_proc.ctl("POST", "/reset", {"slots": 10, "latency_ms": 0})
    return emu_proc


def create(emu, name="Test audience", status=None, config=None):
    body = {"name": name, "config": config or GOOD_CONFIG}
    if status:
        body["status"] = status
    code, payload = emu.api("POST", BASE, body)
    assert code == 201, payload
    return payload["data"]


# ---------------------------------------------------------------- auth


def test_key_required(emu):
    create(emu)
    for key in (None, "sk_wrong"):
        code, payload = emu.api("GET", BASE, key=key)
        assert code == 401
        assert payload["error"]["code"] == "UNAUTHORIZED"
        assert payload["error"]["message"]
    code, payload = emu.api("GET", BASE)
    assert code == 200 and len(payload["data"]) == 1
    assert emu.api("GET", BASE + "/no-such-id", key=None)[0] == 401  # key checked first
    assert emu.api("PUT", BASE)[1]["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_custom_key():
    e = Emu("--empty", "--key", "sk_live_other")
    try:
        assert e.api("GET", BASE)[0] == 401
        assert e.api("GET", BASE, key="sk_live_other")[0] == 200
    finally:
        e.stop()


# ---------------------------------------------------------------- listing


def test_paging_over_seed_250():
    e = Emu("--seed", "250")
    try:
        ids, names, pages = [], [], 0
        offset = 0
        while True:
            code, payload = e.api("GET", "%s?limit=100&offset=%d" % (BASE, offset))
            assert code == 200
            assert payload["meta"] == {"total": 250, "limit": 100, "offset": offset}
            pages += 1
            ids += [a["id"] for a in payload["data"]]
            names += [a["name"] for a in payload["data"]]
            created = [a["createdAt"] for a in payload["data"]]
            assert created == sorted(created)
            if len(payload["data"]) < 100:
                break
            offset += 100
        assert pages == 3
        assert len(ids) == 250 and len(set(ids)) == 250
        assert names[0] == "Audience 00001" and names[-1] == "Audience 00250"
        assert names == sorted(names)
        # default limit, past the end, and the status filter
        assert len(e.api("GET", BASE)[1]["data"]) == 50
        assert e.api("GET", BASE + "?offset=250")[1]["data"] == []
        by_status = {}
        for s in ("draft", "active", "paused"):
            code, payload = e.api("GET", "%s?status=%s&limit=100" % (BASE, s))
            assert code == 200 and all(a["status"] == s for a in payload["data"])
            by_status[s] = payload["meta"]["total"]
        assert sum(by_status.values()) == 250
        assert by_status["active"] > 10  # --seed without --slots: unconstrained
        # deterministic: a reset to the same seed gives the same ids
        e.ctl("POST", "/reset", {"seed": 250})
        again = [a["id"] for a in e.state()]
        assert again == ids
    finally:
        e.stop()


def test_seed_respects_explicit_slots():
    e = Emu("--seed", "30", "--slots", "4")
    try:
        assert sum(a["status"] == "active" for a in e.state()) == 4
    finally:
        e.stop()


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "limit=-1", "limit=",
                                   "limit=1.5", "offset=-1", "offset=x", "status=running"])
def test_bad_list_parameters(emu, query):
    code, payload = emu.api("GET", "%s?%s" % (BASE, query))
    assert code == 400
    assert payload["error"]["code"] == "VALIDATION_ERROR"


def test_list_items_lack_config_get_has_it(emu):
    made = create(emu, "With config")
    assert made["config"] == GOOD_CONFIG
    code, payload = emu.api("GET", BASE)
    item = payload["data"][0]
    assert "config" not in item
    for field in ("id", "name", "status", "accessType", "dailyRefreshEnabled", "audienceSize",
                  "createdAt", "updatedAt"):
        assert field in item
    code, payload = emu.api("GET", "%s/%s" % (BASE, made["id"]))
    assert code == 200 and payload["data"]["config"] == GOOD_CONFIG
    assert payload["data"]["name"] == "With config"


# ---------------------------------------------------------------- create


def test_post_creates_draft_with_config(emu):
    before = time.time()
    a = create(emu, "Marketing Directors at Tech Companies")
    assert a["status"] == "draft" and a["audienceSize"] == 0 and a["accessType"] == "paid"
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", a["id"])
    assert ISO_MS.match(a["createdAt"]) and a["createdAt"] == a["updatedAt"]
    assert abs(calendar.timegm(time.strptime(a["createdAt"][:19], "%Y-%m-%dT%H:%M:%S"))
               - before) < 5
    assert a["config"] == GOOD_CONFIG
    # code points, not bytes: 255 two-byte characters are a valid name; unknown keys ignored
    b = create(emu, "é" * 255, status="paused",
               config={"topicIds": [1], "minScore": None})
    assert b["name"] == "é" * 255 and b["status"] == "paused" and b["config"]["minScore"] is None
    code, _ = emu.api("POST", BASE, {"name": "x", "config": {"topicIds": [5]}, "bogus": 1,
                                     "audienceSize": 99})
    assert code == 201
    assert len(emu.state()) == 3


BAD_POSTS = [
    ({"name": "x", "config": {"topicIds": []}}, "VALIDATION_ERROR"),
    ({"name": "x", "config": {"topicIds": [1], "minScore": 100}}, "VALIDATION_ERROR"),
    ({"name": "x", "config": {"topicIds": [1], "minScore": -1}}, "VALIDATION_ERROR"),
    ({"name": "x", "config": {"topicIds": [1], "minScore": 70.0}}, "VALIDATION_ERROR"),
    ({"name": "x", "config": {"topicIds": [1], "maxScore": 10}}, "VALIDATION_ERROR"),
    ({"name": "x", "config": {"topicIds": [1], "maxScore": None}}, "VALIDATION_ERROR"),
    ({"name": "x", "config": {"topicIds": [1], "minTopicOverlap": 0}}, "VALIDATION_ERROR"),
    ({"name": "x", "config": {"topicIds": [1], "minTopicOverlap": 251}}, "VALIDATION_ERROR"),
    ({"name": "x", "config": {"topicIds": [1], "filters": []}}, "VALIDATION_ERROR"),
    ({"name": "x", "config": {"topicIds": [True]}}, "VALIDATION_ERROR"),
    ({"name": "x", "config": {"topicIds": ["117805"]}}, "VALIDATION_ERROR"),
    ({"name": "x", "config": {"topicIds": list(range(251))}}, "VALIDATION_ERROR"),
    ({"name": "x", "config": {"minScore": 70}}, "VALIDATION_ERROR"),
    ({"name": "x", "config": "topicIds"}, "VALIDATION_ERROR"),
    ({"name": "x"}, "VALIDATION_ERROR"),
    ({"config": {"topicIds": [1]}}, "VALIDATION_ERROR"),
    ({"name": "", "config": {"topicIds": [1]}}, "VALIDATION_ERROR"),
    ({"name": "n" * 256, "config": {"topicIds": [1]}}, "VALIDATION_ERROR"),
    ({"name": 7, "config": {"topicIds": [1]}}, "VALIDATION_ERROR"),
    ({"name": "x", "status": "running", "config": {"topicIds": [1]}}, "VALIDATION_ERROR"),
    ([{"name": "x", "config": {"topicIds": [1]}}], "VALIDATION_ERROR"),
    (b'{"name": "x", "config": {"topicIds": [1]}', "INVALID_JSON"),
    (b"name=x", "INVALID_JSON"),
    (b"", "INVALID_JSON"),
    (b'{"name": "x", "config": {"topicIds": [NaN]}}', "INVALID_JSON"),
    (b'{"name": "\xff", "config": {"topicIds": [1]}}', "INVALID_JSON"),
]


@pytest.mark.parametrize("body,code", BAD_POSTS, ids=range(len(BAD_POSTS)))
def test_post_validation(emu, body, code):
    create(emu, "Existing")
    before = emu.state()
    if isinstance(body, bytes):
        status, payload = emu.api("POST", BASE, raw=body)
    else:
        status, payload = emu.api("POST", BASE, body)
    assert status == 400
    assert payload["error"]["code"] == code and payload["error"]["message"]
    assert emu.state() == before


# ---------------------------------------------------------------- slots


def test_slots_full(emu):
    emu.ctl("POST", "/settings", {"slots": 2})
    a = create(emu, "A", status="active")
    create(emu, "B", status="active")
    c = create(emu, "C")
    expected = {"error": {"code": "SLOTS_FULL", "message": "All audience slots are in use"}}
    assert emu.api("POST", BASE, {"name": "D", "status": "active", "config": GOOD_CONFIG}) \
        == (403, expected)
    before = emu.state()
    assert emu.api("PATCH", "%s/%s" % (BASE, c["id"]), {"status": "active", "name": "C2"}) \
        == (403, expected)
    assert emu.state() == before  # nothing of the refused PATCH applied
    # an already-active audience may be "activated" again
    code, payload = emu.api("PATCH", "%s/%s" % (BASE, a["id"]), {"status": "active", "name": "A2"})
    assert code == 200 and payload["data"]["name"] == "A2"
    # pausing one frees a slot
    assert emu.api("PATCH", "%s/%s" % (BASE, a["id"]), {"status": "paused"})[0] == 200
    assert emu.api("PATCH", "%s/%s" % (BASE, c["id"]), {"status": "active"})[0] == 200
    assert sorted(x["name"] for x in emu.state() if x["status"] == "active") == ["B", "C"]


# ---------------------------------------------------------------- update, delete


def test_patch_fields_and_updated_at(emu):
    a = create(emu, "Before")
    url = "%s/%s" % (BASE, a["id"])
    stamps = [a["updatedAt"]]
    for name in ("n1", "n2", "n3", "n4", "n5"):
        code, payload = emu.api("PATCH", url, {"name": name})
        assert code == 200
        assert ISO_MS.match(payload["data"]["updatedAt"])
        stamps.append(payload["data"]["updatedAt"])
    assert stamps == sorted(set(stamps))  # strictly later each time, even within a millisecond
    assert payload["data"]["createdAt"] == a["createdAt"]
    assert payload["data"]["config"] == GOOD_CONFIG  # PATCH answers carry config
    # a config replaces the whole config
    code, payload = emu.api("PATCH", url, {"config": {"topicIds": [117805], "minScore": 80}})
    assert code == 200 and payload["data"]["config"] == {"topicIds": [117805], "minScore": 80}
    assert emu.api("GET", url)[1]["data"]["config"] == {"topicIds": [117805], "minScore": 80}
    code, payload = emu.api("PATCH", url, {"status": "paused"})
    assert code == 200 and payload["data"]["status"] == "paused"
    code, same = emu.api("PATCH", url, {"bogus": 1})  # nothing to change: updatedAt stays
    assert code == 200 and same["data"]["updatedAt"] == payload["data"]["updatedAt"]
    # only present fields are validated; invalid ones change nothing
    before = emu.state()
    for bad in ({"config": {"topicIds": []}}, {"config": {"minScore": 80}}, {"name": ""},
                {"status": "on"}, {"name": "ok", "config": {"topicIds": [1], "maxScore": 100}}):
        code, payload = emu.api("PATCH", url, bad)
        assert code == 400 and payload["error"]["code"] == "VALIDATION_ERROR", bad
    assert emu.api("PATCH", url, raw=b"{")[1]["error"]["code"] == "INVALID_JSON"
    assert emu.state() == before


def test_not_found_and_delete(emu):
    a = create(emu)
    missing = "%s/6fb81599-f601-4afe-b3ff-e8a211cae27d" % BASE
    for method, body in (("GET", None), ("PATCH", {"name": "x"}), ("DELETE", None)):
        code, payload = emu.api(method, missing, body)
        assert code == 404 and payload["error"]["code"] == "NOT_FOUND"
    assert emu.api("GET", "/v1/intent/nothing")[0] == 404
    url = "%s/%s" % (BASE, a["id"])
    assert emu.api("DELETE", url) == (200, {"data": {"deleted": True}})
    assert emu.api("GET", url)[0] == 404
    assert emu.api("DELETE", url)[0] == 404
    assert emu.state() == []


# ---------------------------------------------------------------- faults


def test_fault_status_not_processed(emu):
    emu.ctl("POST", "/faults", {"method": "POST", "path": BASE, "kind": "status",
                                "status": 503, "count": 2})
    for _ in range(2):
        code, payload = emu.api("POST", BASE, {"name": "x", "config": GOOD_CONFIG})
        assert code == 503 and "error" in payload
    assert emu.state() == []
    assert emu.api("GET", BASE)[0] == 200  # other methods untouched
    create(emu)  # count used up
    emu.ctl("POST", "/faults", {"kind": "status", "status": 500,
                                "body": {"message": "plain message"}})
    assert emu.api("GET", BASE) == (500, {"message": "plain message"})
    assert [r["status"] for r in emu.log()] == [503, 503, 200, 201, 500]


def test_fault_retry_after(emu):
    emu.ctl("POST", "/faults", {"kind": "retry_after", "seconds": 3})
    code, headers, payload = emu.req("GET", BASE)
    assert code == 429 and headers["Retry-After"] == "3"
    assert payload["error"]["code"]
    assert emu.api("GET", BASE)[0] == 200


def test_fault_delay_then_processed(emu):
    emu.ctl("POST", "/faults", {"kind": "delay", "seconds": 0.4, "method": "POST"})
    t0 = time.monotonic()
    code, _ = emu.api("POST", BASE, {"name": "slow", "config": GOOD_CONFIG})
    assert code == 201 and time.monotonic() - t0 >= 0.4
    assert [a["name"] for a in emu.state()] == ["slow"]
    t0 = time.monotonic()
    emu.api("GET", BASE)
    assert time.monotonic() - t0 < 0.3


def test_fault_garbage_and_wrong_shape(emu):
    a = create(emu)
    emu.ctl("POST", "/faults", [{"kind": "garbage"}, {"kind": "wrong_shape", "path": BASE},
                                {"kind": "wrong_shape", "path": BASE + "/", "prefix": True}])
    code, _, payload = emu.req("GET", BASE)
    assert code == 200 and isinstance(payload, bytes)
    with pytest.raises(ValueError):
        json.loads(payload)
    code, payload = emu.api("GET", BASE)
    assert code == 200 and not isinstance(payload["data"], list)
    code, payload = emu.api("GET", "%s/%s" % (BASE, a["id"]))
    assert code == 200 and not isinstance(payload["data"], dict)
    assert emu.api("GET", BASE)[0] == 200


def test_fault_drop(emu):
    emu.ctl("POST", "/faults", {"kind": "drop", "method": "PATCH", "path": BASE + "/",
                                "prefix": True})
    a = create(emu, "keep")
    with pytest.raises((urllib.error.URLError, http.client.HTTPException, ConnectionError)):
        emu.api("PATCH", "%s/%s" % (BASE, a["id"]), {"name": "changed"})
    assert emu.state()[0]["name"] == "keep"
    last = emu.log()[-1]
    assert last["method"] == "PATCH" and last["status"] is None and last["dropped"] is True
    # "process": the change happens, the answer is lost
    emu.ctl("POST", "/faults", {"kind": "drop", "process": True})
    with pytest.raises((urllib.error.URLError, http.client.HTTPException, ConnectionError)):
        emu.api("PATCH", "%s/%s" % (BASE, a["id"]), {"name": "changed"})
    assert emu.state()[0]["name"] == "changed"


def test_fault_queue_order_and_clear(emu):
    emu.ctl("POST", "/faults", {"kind": "status", "status": 502, "path": "/elsewhere"})
    emu.ctl("POST", "/faults", {"kind": "status", "status": 500, "method": "GET"})
    emu.ctl("POST", "/faults", {"kind": "status", "status": 503})
    assert emu.api("GET", BASE)[0] == 500
    assert emu.api("GET", BASE)[0] == 503
    assert emu.api("GET", BASE)[0] == 200
    assert len(emu.ctl("GET", "/faults")["faults"]) == 1
    emu.ctl("POST", "/faults", {"kind": "status", "status": 500, "count": 5})
    emu.ctl("POST", "/faults/clear")
    assert emu.api("GET", BASE)[0] == 200
    code, _, payload = emu.req("POST", "/_emu/faults", {"kind": "explode"}, key=None)
    assert code == 400


def test_latency_setting(emu):
    emu.ctl("POST", "/settings", {"latency_ms": 250})
    t0 = time.monotonic()
    assert emu.api("GET", BASE)[0] == 200
    assert time.monotonic() - t0 >= 0.25
    emu.ctl("POST", "/settings", {"latency_ms": 0})


# ---------------------------------------------------------------- request log


def test_request_log(emu):
    a = create(emu)
    emu.api("GET", BASE + "?limit=5&offset=0&status=draft", key=None)
    emu.api("PATCH", "%s/%s" % (BASE, a["id"]), {"status": "paused"})
    emu.api("POST", BASE, raw=b"not json")
    emu.ctl("GET", "/state")  # control requests are never logged
    log = emu.log()
    assert [(r["method"], r["path"], r["status"]) for r in log] == [
        ("POST", BASE, 201),
        ("GET", BASE, 401),
        ("PATCH", "%s/%s" % (BASE, a["id"]), 200),
        ("POST", BASE, 400),
    ]
    assert log[0]["body"] == {"name": "Test audience", "config": GOOD_CONFIG}
    assert log[1]["query"] == {"limit": "5", "offset": "0", "status": "draft"}
    assert log[1]["body"] is None
    assert log[2]["body"] == {"status": "paused"}
    assert log[3]["body"] == "not json"
    assert all(isinstance(r["t"], float) for r in log)
    assert [r["t"] for r in log] == sorted(r["t"] for r in log)
    assert len(emu.ctl("GET", "/log?since=3")["requests"]) == 1
    emu.ctl("POST", "/log/clear")
    assert emu.log() == []


# ---------------------------------------------------------------- changes elsewhere


def test_changes_elsewhere(emu):
    made = emu.ctl("POST", "/audiences", {"name": "From the web app", "audienceSize": 12})["data"]
    assert ISO_MS.match(made["createdAt"]) and made["config"]["topicIds"]
    url = "%s/%s" % (BASE, made["id"])
    code, payload = emu.api("GET", url)
    assert code == 200 and payload["data"]["audienceSize"] == 12
    changed = emu.ctl("PATCH", "/audiences/" + made["id"],
                      {"status": "active", "audienceSize": 151, "newField": [1]})["data"]
    assert changed["updatedAt"] > made["updatedAt"]
    item = emu.api("GET", BASE)[1]["data"][0]
    assert (item["status"], item["audienceSize"], item["newField"]) == ("active", 151, [1])
    emu.ctl("PATCH", "/audiences/" + made["id"], {"_remove": ["lastRefreshedAt", "accessType"]})
    assert "accessType" not in emu.api("GET", url)[1]["data"]
    emu.ctl("DELETE", "/audiences/" + made["id"])
    assert emu.api("GET", url)[0] == 404
    # none of the control requests show up in the API log
    assert [r["method"] for r in emu.log()] == ["GET", "GET", "GET", "GET"]


# ---------------------------------------------------------------- sample data


def test_sample_data(emu):
    e = Emu("--sample")
    try:
        auds = e.state()
        # the default data set is --sample, and the same on every run
        emu.ctl("POST", "/reset", {"sample": True})
        assert [a["id"] for a in emu.state()] == [a["id"] for a in auds]
    finally:
        e.stop()
    names = [a["name"] for a in auds]
    assert 30 <= len(auds) <= 60
    for special in ("Sales/Revenue Leaders", ".", "..", "Café Owners in Zürich 🇨🇭",
                    "Marketing Directors at Tech Companies"):
        assert special in names
    assert any(names.count(n) == 2 for n in names)
    assert any(len(n) == 300 for n in names)
    assert any(len(n) <= 255 < len(n.encode()) for n in names)
    assert 1 <= sum(a["status"] == "active" for a in auds) <= 10
    assert {a["status"] for a in auds} == {"draft", "active", "paused"}
    assert any("lastRefreshedAt" in a and a["lastRefreshedAt"] is None for a in auds)
    assert len({a["id"] for a in auds}) == len(auds)
    for a in auds:
        cfg = a["config"]
        assert 1 <= len(cfg["topicIds"]) <= 250 and isinstance(cfg["filters"], dict)
        assert ISO_MS.match(a["createdAt"]) and ISO_MS.match(a["updatedAt"])


# ---------------------------------------------------------------- HTTP plumbing


def test_keep_alive_and_content_length(emu):
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
    try:
        hdr = {"x-api-key": KEY, "Content-Type": "application/json"}
        body = json.dumps({"name": "ka", "config": GOOD_CONFIG})
        conn.request("POST", BASE, body=body, headers=dict(hdr, Expect="100-continue"))
        r = conn.getresponse()
        data = r.read()
        assert r.status == 201 and int(r.getheader("Content-Length")) == len(data)
        sock = conn.sock
        for _ in range(3):
            conn.request("GET", BASE, headers=hdr)
            r = conn.getresponse()
            data = r.read()
            assert r.status == 200 and int(r.getheader("Content-Length")) == len(data)
        conn.request("GET", BASE, headers={})  # errors keep the connection too
        r = conn.getresponse()
        assert r.status == 401 and len(r.read()) == int(r.getheader("Content-Length"))
        assert conn.sock is sock  # one TCP connection throughout
        # a chunked body is read correctly
        conn.putrequest("PATCH", "%s/%s" % (BASE, json.loads(data)["data"][0]["id"]))
        for k, v in hdr.items():
            conn.putheader(k, v)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        conn.send(b'5\r\n{"nam\r\nb\r\ne":"chunk"}\r\n0\r\n\r\n')
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read())["data"]["name"] == "chunk"
    finally:
        conn.close()


def test_seed_100000_starts_fast_and_walks():
    e = Emu("--seed", "100000")
    try:
        assert e.startup < 5
        conn = http.client.HTTPConnection("127.0.0.1", e.port, timeout=10)
        ids = set()
        for page in range(1000):
            conn.request("GET", "%s?limit=100&offset=%d" % (BASE, page * 100),
                         headers={"x-api-key": KEY})
            r = conn.getresponse()
            data = json.loads(r.read())["data"]
            assert r.status == 200 and len(data) == 100
            ids.update(a["id"] for a in data)
        conn.close()
        assert len(ids) == 100000
        assert data[-1]["name"] == "Audience 100000"
    finally:
        e.stop()


def test_exit_codes():
    e = Emu("--empty")
    e.ctl("POST", "/shutdown")
    assert e.proc.wait(5) == 0
    e.stop()
    e = Emu("--empty")
    e.proc.send_signal(signal.SIGINT)
    assert e.proc.wait(5) == 0
    e.stop()
