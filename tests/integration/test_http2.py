"""leadpipefs over HTTP/2 (issue 15): nghttpx terminates TLS and HTTP/2 in
front of the emulator (which speaks HTTP/1.1 only), with a certificate of
the test CA (conftest.TestPki). A cold `ls` and `cat M/*/config.json` gives
the emulator's configs over exactly one connection, many requests on it at
once. nghttpx's access log names each request's client port and protocol:
one port is one connection."""
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import Emulator, free_port, stop_process, wait_listening
from test_connections import read_every_config

NGHTTPX = "/usr/sbin/nghttpx"
AUDIENCES = 60
LOG_FORMAT = "$remote_port $alpn $status $method $path"


class Nghttpx:
    """nghttpx on 127.0.0.1:port, TLS with cert/key, HTTP/2 (and 1.1) to
    clients, plain HTTP/1.1 to the backend port."""

    def __init__(self, cert, key, backend_port):
        self.dir = tempfile.mkdtemp(prefix="lp-nghttpx-")
        self.access_log = os.path.join(self.dir, "access.log")
        self.error_log = os.path.join(self.dir, "error.log")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [NGHTTPX, "--conf=/dev/null", "--no-ocsp", "--workers=1",
             "-f127.0.0.1,%d" % self.port, "-b127.0.0.1,%d" % backend_port,
             # Enough backend connections that the emulator sees every
             # stream at once (nghttpx sends one request per connection).
             "--backend-connections-per-host=128",
             "--accesslog-file=" + self.access_log, "--accesslog-format=" + LOG_FORMAT,
             "--errorlog-file=" + self.error_log, key, cert],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_listening(self.port, self.proc, 15):
            self.stop()
            raise RuntimeError("nghttpx did not start: " + self.errors())
        self.url = "https://127.0.0.1:%d" % self.port

    def errors(self):
        try:
            return open(self.error_log, errors="replace").read()
        except OSError:
            return ""

    def requests(self, at_least, timeout=10):
        """The access log's lines as (port, alpn, status, method, path), once
        it holds at_least of them (nghttpx writes a line as a request ends)."""
        deadline = time.time() + timeout
        while True:
            try:
                lines = open(self.access_log).read().splitlines()
            except OSError:
                lines = []
            if len(lines) >= at_least or time.time() > deadline:
                return [tuple(line.split(" ", 4)) for line in lines]
            time.sleep(0.05)

    def stop(self):
        stop_process(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def emu():
    """Plain HTTP behind nghttpx; the latency makes requests overlap."""
    e = Emulator(["--seed", str(AUDIENCES), "--latency-ms", "50"])
    yield e
    e.stop()


@pytest.fixture
def h2(pki, emu):
    # tests/deps.sh installs it: missing, it is a broken set-up, not a skip
    # (the suite skips only where FUSE is absent).
    if not os.access(NGHTTPX, os.X_OK):
        pytest.fail("nghttpx is not installed (Debian package nghttp2-proxy, tests/deps.sh)")
    p = Nghttpx(*pki.pair("server"), emu.port)
    yield p
    p.stop()


def mount_through(h2, emu, mount_factory, options):
    """A mount whose base_url is nghttpx's (mount_factory takes emu.url)."""
    plain_url, emu.url = emu.url, h2.url
    try:
        return mount_factory(options)
    finally:
        emu.url = plain_url


def test_configs_come_over_one_http2_connection(pki, emu, h2, mount_factory):
    m = mount_through(h2, emu, mount_factory, "cache_timeout=30,cafile=" + pki.ca)
    configs = read_every_config(m)
    assert configs == {a["name"]: a["config"] for a in emu.state()}
    conns = emu.control("GET", "/_emu/conns")
    lines = h2.requests(conns["requests"])
    assert len(lines) == conns["requests"] >= AUDIENCES + 1, (lines, conns)
    assert {alpn for _, alpn, _, _, _ in lines} == {"h2"}, lines
    assert len({port for port, _, _, _, _ in lines}) == 1, lines  # one connection
    # Many at once on it, more than the 8 HTTP/1.1 would use: the sweep
    # starts 64 workers once an answer came over HTTP/2 (42 seen here).
    assert conns["max_in_flight"] > 8, conns
