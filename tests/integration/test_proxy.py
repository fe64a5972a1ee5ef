"""leadpipefs through a real HTTP proxy (tinyproxy, conftest.Tinyproxy), as
libcurl reads https_proxy, HTTPS_PROXY and no_proxy from the environment
(http.c sets no proxy of its own). A recording relay (conftest.Relay) sits
between leadpipefs and the proxy, so the tests see every byte the proxy got:
over https that is a CONNECT line and then TLS, never the key. The emulator
speaks TLS with the test CA's certificate, trusted with -o cafile."""
import json
import os

import pytest

from conftest import KEY, Emulator, Mount, Relay, Tinyproxy, free_port, run_binary

API = "/v1/intent/audiences"
# What the caller's shell may hold that would change where curl connects or
# what it trusts; each test sets its own.
PROXY_VARS = ["http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
              "no_proxy", "NO_PROXY", "CURL_CA_BUNDLE"]


@pytest.fixture
def tls_emu(pki):
    e = Emulator(["--seed", "3"], tls=pki.pair("server"))
    yield e
    e.stop()


@pytest.fixture
def proxy(tls_emu):
    """tinyproxy allowing CONNECT to the emulator's port, and the relay in
    front of it: leadpipefs is pointed at proxy.relay.port."""
    tp = Tinyproxy(tls_emu.port)
    try:
        tp.relay = Relay(tp.port)
    except Exception:
        tp.stop()
        raise
    yield tp
    tp.relay.close()
    tp.stop()


@pytest.fixture
def clean_env(monkeypatch):
    """Mount copies os.environ: no proxy setting or CA bundle of the caller's
    reaches leadpipefs (a no_proxy=127.0.0.1 there would skip the proxy)."""
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)


def proxy_url(proxy):
    return "http://127.0.0.1:%d" % proxy.relay.port


def use_the_mount(m, emu):
    """ls, cat of a config.json and a status write (PATCH) work, and the
    emulator got the requests."""
    state = {a["name"]: a for a in emu.state()}
    assert sorted(os.listdir(m.path)) == sorted(state)
    first = state["Audience 00001"]
    r = m.sh('cat "$M/Audience 00001/config.json"', check=True)
    assert json.loads(r.stdout) == first["config"], r.stdout
    emu.clear_log()
    r = m.sh('echo active > "$M/Audience 00001/status"')
    assert r.returncode == 0, r.stderr
    assert [(p["path"], p["body"]) for p in emu.requests("PATCH")] == \
        [(API + "/" + first["id"], {"status": "active"})]
    assert m.sh('cat "$M/Audience 00001/status"').stdout == "active\n"
    assert emu.by_name("Audience 00001")[0]["status"] == "active"


@pytest.mark.parametrize("var", ["https_proxy", "HTTPS_PROXY"])
def test_mount_works_through_a_proxy_and_the_key_stays_inside_tls(
        pki, tls_emu, proxy, clean_env, var):
    """With https_proxy (or HTTPS_PROXY) set, every connection goes through
    the proxy as a CONNECT tunnel: ls, cat and a status write work, tinyproxy
    logs the CONNECT to the emulator, and of what the proxy received only the
    CONNECT line is readable: neither the key nor a request path appears."""
    m = Mount(tls_emu, "cafile=" + pki.ca, env={var: proxy_url(proxy)})
    try:
        use_the_mount(m, tls_emu)
    finally:
        m.close()
    m.check_clean_exit()

    target = "127.0.0.1:%d" % tls_emu.port
    assert "CONNECT %s" % target in proxy.log(), proxy.log()[-2000:]
    streams = proxy.relay.streams()
    assert streams
    for stream in streams:
        # A tunnel: the CONNECT request, then, once the proxy said 200, TLS
        # records only (0x16 0x03: a handshake record, the ClientHello).
        head, _, rest = stream.partition(b"\r\n\r\n")
        assert head.startswith(b"CONNECT %s HTTP/1.1\r\n" % target.encode()), stream[:200]
        assert rest.startswith(b"\x16\x03"), stream[:200]
    sent = proxy.relay.sent()
    assert KEY.encode() not in sent
    assert b"x-api-key" not in sent.lower() and API.encode() not in sent


def test_no_proxy_skips_the_proxy(pki, tls_emu, proxy, clean_env):
    """no_proxy=127.0.0.1 with https_proxy set: the mount works and the
    proxy saw no connection at all."""
    m = Mount(tls_emu, "cafile=" + pki.ca,
              env={"https_proxy": proxy_url(proxy), "no_proxy": "127.0.0.1"})
    try:
        use_the_mount(m, tls_emu)
    finally:
        m.close()
    m.check_clean_exit()
    assert proxy.relay.connections == 0 and proxy.relay.sent() == b""
    assert "CONNECT 127.0.0.1" not in proxy.log()


def test_proxy_down_ends_start_up(pki, tls_emu, clean_env):
    """https_proxy names a port nothing listens on: exit 1, nothing mounted,
    one line saying the API could not be reached and curl's words, which give
    the proxy's address (not the API's); no request reached the emulator."""
    port = free_port()
    env = dict(os.environ, LEADPIPE_API_KEY=KEY, https_proxy="http://127.0.0.1:%d" % port)
    res, mounted = run_binary(["-o", "base_url=%s,cafile=%s,timeout=5,tries=2"
                               % (tls_emu.url, pki.ca)], env)
    assert res.returncode == 1 and not mounted, res
    assert res.stderr.startswith("leadpipefs: cannot reach %s: " % tls_emu.url), res.stderr
    assert "127.0.0.1 port %d" % port in res.stderr, res.stderr
    assert KEY not in res.stderr
    assert tls_emu.log() == []


def test_plain_http_through_a_proxy_shows_the_key(clean_env):
    """Why the key must travel inside TLS: a plain http:// base_url (allowed
    to a loopback address only) through http_proxy hands the proxy each
    request as it is, x-api-key line included. It also shows the relay would
    have seen the key above had it been sent in clear."""
    emu = Emulator(["--seed", "3"])
    tp = relay = m = None
    try:
        tp = Tinyproxy(emu.port)
        relay = Relay(tp.port)
        m = Mount(emu, "", env={"http_proxy": "http://127.0.0.1:%d" % relay.port})
        assert len(os.listdir(m.path)) == 3
        m.close()
        m.check_clean_exit()
        sent = relay.sent()
        assert b"GET http://127.0.0.1:%d%s" % (emu.port, API.encode()) in sent, sent[:400]
        assert b"x-api-key: " + KEY.encode() in sent
    finally:
        if m:
            m.close()
        if relay:
            relay.close()
        if tp:
            tp.stop()
        emu.stop()
