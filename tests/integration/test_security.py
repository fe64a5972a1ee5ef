"""Security of leadpipefs: where the API key may come from and where it must
never show up, plain http only to loopback, TLS always verified, and a mount
that is private unless allow_other (and even then read-only for other users,
since default_permissions is always on).

Needs root (mounts, runuser -u nobody, unshare -n) like the rest of the
integration tests.
"""
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import types

import pytest

from conftest import BINARY, MOUNT_BASE, Emulator, Mount, reap_dead_mount, run_binary

SECRET = "sk_live_SECRET_9f8e7d6c5b4a39281706f5e4d3c2b1a0"


@pytest.fixture
def semu():
    """An emulator that accepts only SECRET, with a few audiences."""
    e = Emulator(["--seed", "3", "--key", SECRET])
    yield e
    e.stop()


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="lp-sec-", dir="/var/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def env_without_key(**extra):
    env = {k: v for k, v in os.environ.items() if k != "LEADPIPE_API_KEY"}
    env.update(extra)
    return env


def proc_file(pid, name):
    with open("/proc/%d/%s" % (pid, name), "rb") as f:
        return f.read()


def assert_key_not_exposed(pid):
    """The key is neither in the command line nor in the environment block the
    kernel shows for the process (the daemon wipes its copy)."""
    assert SECRET.encode() not in proc_file(pid, "cmdline")
    assert SECRET.encode() not in proc_file(pid, "environ")
    # Also no shorter tell-tale piece of it.
    assert SECRET[8:30].encode() not in proc_file(pid, "environ")


# ---------------------------------------------------------------- where the key lives


def test_key_from_env_is_wiped_from_proc(semu):
    """With LEADPIPE_API_KEY, the mount works and /proc/PID/cmdline and
    /proc/PID/environ of the running daemon do not contain the key."""
    m = Mount(semu, "cache_timeout=30", env={"LEADPIPE_API_KEY": SECRET})
    try:
        assert os.listdir(m.path) == ["Audience 00001", "Audience 00002", "Audience 00003"]
        assert_key_not_exposed(m.proc.pid)
    finally:
        reap_dead_mount(m)
        m.close()


def find_daemon(mountpoint):
    """pid of the leadpipefs process serving mountpoint (detached: not our child)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            args = proc_file(int(pid), "cmdline").split(b"\0")
        except OSError:
            continue
        if args and args[0] == BINARY.encode() and mountpoint.encode() in args:
            return int(pid)
    return None


def test_detached_daemon_does_not_expose_the_key(semu):
    """Started without -f, leadpipefs detaches; the background daemon's cmdline
    and environ do not contain the key either."""
    mnt = tempfile.mkdtemp(prefix="m-", dir=MOUNT_BASE)
    pid = None
    try:
        res = subprocess.run([BINARY, "-o", "base_url=" + semu.url, mnt],
                             env=env_without_key(LEADPIPE_API_KEY=SECRET),
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res
        assert os.path.ismount(mnt)
        pid = find_daemon(mnt)
        assert pid, "no daemon found for " + mnt
        assert_key_not_exposed(pid)
        assert sorted(os.listdir(mnt)) == ["Audience 00001", "Audience 00002", "Audience 00003"]
    finally:
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-u", mnt])
        for _ in range(100):
            if pid is None or not os.path.exists("/proc/%d" % pid):
                break
            time.sleep(0.1)
        os.rmdir(mnt)
    assert pid is None or not os.path.exists("/proc/%d" % pid), "daemon outlived its unmount"


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_key_file_private_is_used(semu, workdir, mode):
    """-o api_key_file=PATH with a file only its owner can read works; the
    daemon's cmdline names the file, never the key."""
    path = os.path.join(workdir, "key")
    with open(path, "w") as f:
        f.write(SECRET + "\nsecond line ignored\n")
    os.chmod(path, mode)
    m = Mount(semu, "api_key_file=" + path, env={"LEADPIPE_API_KEY": ""})
    try:
        assert len(os.listdir(m.path)) == 3
        assert path.encode() in proc_file(m.proc.pid, "cmdline")
        assert_key_not_exposed(m.proc.pid)
    finally:
        reap_dead_mount(m)
        m.close()


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o666, 0o620])
def test_key_file_readable_by_others_is_refused(semu, workdir, mode):
    """A key file that group or others may read or write: exit 1, a message
    that says to chmod 600, nothing mounted, the key not printed, no request."""
    path = os.path.join(workdir, "key")
    with open(path, "w") as f:
        f.write(SECRET + "\n")
    os.chmod(path, mode)
    semu.clear_log()
    res, mounted = run_binary(["-o", "base_url=%s,api_key_file=%s" % (semu.url, path)],
                              env_without_key())
    assert res.returncode == 1 and not mounted, res
    assert "chmod 600" in res.stderr and path in res.stderr, res.stderr
    assert SECRET not in res.stderr + res.stdout
    assert semu.log() == []


@pytest.mark.parametrize("kind", ["symlink", "directory", "empty", "missing"])
def test_key_file_unusable_is_refused(semu, workdir, kind):
    """A key file that is a symlink (not followed), a directory, empty or
    missing: exit 1 with a message naming the file, nothing mounted, no request."""
    real = os.path.join(workdir, "real")
    with open(real, "w") as f:
        f.write(SECRET + "\n")
    os.chmod(real, 0o600)
    path = os.path.join(workdir, "key")
    if kind == "symlink":
        os.symlink(real, path)
    elif kind == "directory":
        os.mkdir(path, 0o700)
    elif kind == "empty":
        open(path, "w").close()
        os.chmod(path, 0o600)
    semu.clear_log()
    res, mounted = run_binary(["-o", "base_url=%s,api_key_file=%s" % (semu.url, path)],
                              env_without_key())
    assert res.returncode == 1 and not mounted, res
    assert path in res.stderr, res.stderr
    assert SECRET not in res.stderr + res.stdout
    assert semu.log() == []


def test_key_on_the_command_line_is_refused(semu):
    """-o api_key=... is refused (usage error, exit 2) before anything else:
    nothing mounted, no request, and the key is not echoed back."""
    semu.clear_log()
    res, mounted = run_binary(["-o", "base_url=%s,api_key=%s" % (semu.url, SECRET)],
                              env_without_key())
    assert res.returncode == 2 and not mounted, res
    assert "command line" in res.stderr
    assert SECRET not in res.stderr + res.stdout
    assert semu.log() == []


def test_no_key_at_all(semu):
    """Neither env nor file: exit 1 with the documented message, no request."""
    semu.clear_log()
    res, mounted = run_binary(["-o", "base_url=" + semu.url], env_without_key())
    assert res.returncode == 1 and not mounted, res
    assert "no API key: set LEADPIPE_API_KEY or" in res.stderr
    assert semu.log() == []


def test_rejected_key_is_not_printed(semu):
    """A key the API refuses (401): exit 1, 'the API rejected the key', and the
    wrong key itself appears nowhere in the output."""
    wrong = "sk_live_WRONG_0123456789abcdef0123456789"
    res, mounted = run_binary(["-o", "base_url=" + semu.url],
                              env_without_key(LEADPIPE_API_KEY=wrong))
    assert res.returncode == 1 and not mounted, res
    assert "rejected the key" in res.stderr and "401" in res.stderr
    assert wrong not in res.stderr + res.stdout


def test_key_never_in_debug_log(semu):
    """With -d (libfuse's request trace plus one line per HTTP exchange), after
    listing, reading, writing, a failed write and an API error message that
    quotes the key back, the log contains no trace of the key."""
    m = Mount(semu, "cache_timeout=1,timeout=2,tries=2", env={"LEADPIPE_API_KEY": SECRET},
              extra_args=["-d"])
    try:
        d = os.path.join(m.path, "Audience 00001")
        assert sorted(os.listdir(m.path))[0] == "Audience 00001"
        with open(os.path.join(d, "config.json")) as f:
            json.load(f)
        res = m.sh('echo active > "$M/Audience 00001/status"')
        assert res.returncode == 0, res.stderr
        # An error answer that carries the key (a careless proxy or API).
        semu.fault(kind="status", status=400, method="PATCH",
                   body={"error": {"code": "VALIDATION_ERROR",
                                   "message": "bad request for key %s" % SECRET}})
        res = m.sh('echo paused > "$M/Audience 00001/status"')
        assert res.returncode == 1 and "Invalid argument" in res.stderr
        semu.fault(kind="status", status=500, count=5, method="GET",
                   body="upstream said: x-api-key: %s" % SECRET)
        time.sleep(1.2)
        m.sh('ls "$M"; cat "$M/Audience 00002/config.json"')
        log = m.stderr()
        assert "GET /v1/intent/audiences" in log  # -d really logs the exchanges
        assert SECRET not in log
        assert SECRET[8:30] not in log
    finally:
        reap_dead_mount(m)
        m.close()
    assert SECRET not in m.stderr()


# ---------------------------------------------------------------- transport


REFUSED_URLS = [
    "http://example.com",
    "http://example.com:8080/",
    "http://10.1.2.3:9000",
    "http://192.168.0.1",
    "http://[2001:db8::1]:8080",
    "HTTP://example.com",
    "ftp://127.0.0.1/",
    "http//127.0.0.1",
]
# Hosts that merely start like a loopback name but are not one: the key would
# go in clear text to whatever they resolve to.
LOOKALIKE_URLS = [
    "http://127.0.0.1.example.com/",
    "http://127.example.com/",
    "http://localhost.example.com/",
    "http://localhostile.example/",
    "http://localhost@example.com/",
    "http://127.0.0.1@example.com/",
    "http://127.0.0.1:80@example.com/",
]


def run_isolated(args, env):
    """Runs leadpipefs in a network namespace with no interfaces up, so that a
    URL wrongly accepted cannot send anything anywhere (it fails to resolve or
    connect instead of being refused)."""
    mnt = tempfile.mkdtemp(prefix="m-", dir=MOUNT_BASE)
    try:
        return subprocess.run(["unshare", "-n", "--", BINARY, "-f", *args, mnt], env=env,
                              capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
    finally:
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-uz", mnt])
        os.rmdir(mnt)


@pytest.mark.parametrize("url", REFUSED_URLS + LOOKALIKE_URLS)
def test_plain_http_refused_unless_loopback(url):
    """base_url over plain http to anything but a loopback address (or not
    http(s) at all): exit 1 with a message saying why, before any request."""
    res = run_isolated(["-o", "base_url=" + url], env_without_key(LEADPIPE_API_KEY=SECRET))
    assert res.returncode == 1, res
    assert "refusing plain http" in res.stderr or "must start with https://" in res.stderr, \
        res.stderr
    assert "cannot reach" not in res.stderr
    assert SECRET not in res.stderr


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_plain_http_to_loopback_works(semu, host):
    """http:// to a loopback host is accepted (a local test server): the mount
    works through it."""
    m = Mount(types.SimpleNamespace(url="http://%s:%d" % (host, semu.port)), "",
              env={"LEADPIPE_API_KEY": SECRET})
    try:
        assert len(os.listdir(m.path)) == 3
    finally:
        reap_dead_mount(m)
        m.close()


@pytest.mark.parametrize("host", ["127.0.0.2", "127.255.255.254", "[::1]"])
def test_plain_http_to_other_loopback_not_refused(semu, host):
    """Any address in 127.0.0.0/8 and ::1 counts as loopback: not refused. The
    emulator listens on 127.0.0.1 only, so start-up fails with "cannot reach"."""
    url = "http://%s:%d" % (host, semu.port)
    res, mounted = run_binary(["-o", "base_url=%s,timeout=2,tries=1" % url],
                              env_without_key(LEADPIPE_API_KEY=SECRET))
    assert res.returncode == 1 and not mounted, res
    assert "refusing" not in res.stderr and "cannot reach" in res.stderr, res.stderr


class TlsServer:
    """A TLS server on 127.0.0.1 with a self-signed certificate that records
    whatever application bytes reach it after a handshake."""

    def __init__(self, workdir):
        self.cert = os.path.join(workdir, "cert.pem")
        self.key = os.path.join(workdir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", self.key, "-out", self.cert], check=True,
                       capture_output=True)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(self.cert, self.key)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.handshakes = 0
        self.received = b""
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            self.connections += 1
            conn.settimeout(5)
            try:
                with self.ctx.wrap_socket(conn, server_side=True) as tls:
                    self.handshakes += 1
                    self.received += tls.recv(65536)
            except (ssl.SSLError, OSError):
                pass

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()


def test_tls_certificate_is_verified(workdir):
    """An https API whose certificate is not trusted (self-signed): leadpipefs
    refuses to talk to it (exit 1, the certificate problem named),
    and not one byte of a request -- so not the key -- reaches the server."""
    srv = TlsServer(workdir)
    try:
        res, mounted = run_binary(
            ["-o", "base_url=https://127.0.0.1:%d,timeout=3,tries=2" % srv.port],
            env_without_key(LEADPIPE_API_KEY=SECRET))
    finally:
        srv.close()
    assert res.returncode == 1 and not mounted, res
    assert "TLS certificate problem with" in res.stderr and "self-signed" in res.stderr, \
        res.stderr
    assert srv.connections >= 1
    assert srv.received == b"" and srv.handshakes == 0


# ---------------------------------------------------------------- who may use the mount


def as_nobody(script, m):
    return subprocess.run(["runuser", "-u", "nobody", "--", "bash", "-c", script],
                          env=dict(os.environ, M=m.path), capture_output=True, text=True,
                          timeout=60, cwd="/")


def mount_options(path):
    with open("/proc/mounts") as f:
        for line in f:
            fields = line.split()
            if fields[1] == path:
                return fields[3].split(",")
    raise AssertionError("%s not in /proc/mounts" % path)


def parent_is_traversable(path):
    p = os.path.dirname(path)
    while p != "/":
        if not os.stat(p).st_mode & 0o001:
            return False
        p = os.path.dirname(p)
    return True


def test_mount_is_private_by_default(semu):
    """Without allow_other, another user (nobody) cannot even look: EACCES for
    ls, stat, cat; /proc/mounts shows default_permissions and no allow_other."""
    m = Mount(semu, "cache_timeout=30", env={"LEADPIPE_API_KEY": SECRET})
    try:
        if not parent_is_traversable(m.path):
            pytest.skip("%s is not reachable for other users" % MOUNT_BASE)
        opts = mount_options(m.path)
        assert "default_permissions" in opts and "allow_other" not in opts, opts
        semu.clear_log()
        for script in ['ls "$M"', 'stat "$M/Audience 00001"', 'cat "$M/Audience 00001/status"',
                       'echo active > "$M/Audience 00001/status"', 'mkdir "$M/x"']:
            res = as_nobody(script, m)
            assert res.returncode != 0 and "Permission denied" in res.stderr, (script, res)
        assert semu.log() == []
        assert len(os.listdir(m.path)) == 3  # the owner still can
    finally:
        reap_dead_mount(m)
        m.close()


def test_allow_other_lets_others_read_but_not_write(semu):
    """With allow_other (root may; a user needs user_allow_other in
    /etc/fuse.conf), nobody can list and read everything, but default_permissions
    stops every change at the kernel: writing status or config.json, mkdir,
    rmdir, mv and touch fail with EACCES and nothing reaches the API."""
    m = Mount(semu, "cache_timeout=30,allow_other", env={"LEADPIPE_API_KEY": SECRET})
    try:
        if not parent_is_traversable(m.path):
            pytest.skip("%s is not reachable for other users" % MOUNT_BASE)
        opts = mount_options(m.path)
        assert "default_permissions" in opts and "allow_other" in opts, opts
        res = as_nobody('ls "$M"; cat "$M/Audience 00001/status" "$M/Audience 00001/size"; '
                        'cat "$M/Audience 00001/config.json"', m)
        assert res.returncode == 0, res
        lines = res.stdout.splitlines()
        assert lines[:3] == ["Audience 00001", "Audience 00002", "Audience 00003"]
        assert lines[3] == "draft"
        assert json.loads("\n".join(lines[5:]))["topicIds"]
        res = as_nobody('getfattr --only-values -n user.leadpipe.id "$M/Audience 00001"', m)
        assert res.returncode == 0 and res.stdout == semu.state()[0]["id"], res
        before = semu.state()
        semu.clear_log()
        for script in ['echo active > "$M/Audience 00001/status"',
                       'echo \'{"topicIds":[1]}\' > "$M/Audience 00001/config.json"',
                       'mkdir "$M/New one"',
                       'rmdir "$M/Audience 00002"',
                       'mv "$M/Audience 00003" "$M/Renamed"',
                       'touch "$M/Audience 00001/scratch"',
                       'rm "$M/Audience 00001/status"']:
            res = as_nobody(script, m)
            assert res.returncode != 0 and "Permission denied" in res.stderr, (script, res)
        assert [r for r in semu.log() if r["method"] != "GET"] == []
        assert semu.state() == before
        # The owner is not affected.
        res = m.sh('echo active > "$M/Audience 00001/status"')
        assert res.returncode == 0 and semu.state()[0]["status"] == "active"
    finally:
        reap_dead_mount(m)
        m.close()
