"""Fixtures for the tests that really mount leadpipefs against the emulator.

Environment (set by tests/integration/meson.build):
  LEADPIPEFS   path of the built leadpipefs binary
  LP_EMULATOR  path of tests/emulator/leadpipe_emu.py
  LP_TEST_TLS  1: the emu fixture speaks https with a certificate of the test
               CA (TestPki), and mounts of it trust that CA (-o cafile)
"""
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.request

import pytest

KEY = "sk_test_emulator"
HERE = os.path.dirname(os.path.abspath(__file__))
BINARY = os.environ.get("LEADPIPEFS") or os.path.join(HERE, "..", "..", "build", "src", "leadpipefs")
EMULATOR = os.environ.get("LP_EMULATOR") or os.path.join(HERE, "..", "emulator", "leadpipe_emu.py")
# Mount points live outside /tmp: vim skips its backup dance under /tmp.
MOUNT_BASE = os.environ.get("LP_MOUNT_BASE", "/var/tmp/leadpipefs-tests")
TLS_MODE = os.environ.get("LP_TEST_TLS") == "1"


def pytest_configure(config):
    if not os.path.exists("/dev/fuse"):
        pytest.exit("FUSE is not available here (/dev/fuse missing)", returncode=77)
    # Every leadpipefs a test starts keeps its results cache in here, never in
    # the user's ~/.cache; removed when the session ends.
    config._lp_cache_home = tempfile.mkdtemp(prefix="lp-xdg-cache-")
    os.environ["XDG_CACHE_HOME"] = config._lp_cache_home


def pytest_unconfigure(config):
    home = getattr(config, "_lp_cache_home", None)
    if home:
        shutil.rmtree(home, ignore_errors=True)


def stop_process(proc):
    """Ends a helper process (emulator, proxy): TERM, then KILL after 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Emulator:
    """A running emulator process and its control interface."""

    def __init__(self, args=(), tls=None):
        """tls: (certificate, key) PEM files: the emulator speaks https with
        them; the control interface below does not check that certificate (a
        negative test serves a bad one on purpose)."""
        self.dir = tempfile.mkdtemp(prefix="lp-emu-")
        port_file = os.path.join(self.dir, "port")
        self.ssl_ctx = None
        # Kept for restart_emulator; cafile is set by the emu fixture in TLS mode.
        self.tls_args = ["--tls-cert", tls[0], "--tls-key", tls[1]] if tls else []
        self.cafile = None
        if tls:
            args = [*args, *self.tls_args]
            self.ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            self.ssl_ctx.check_hostname = False
            self.ssl_ctx.verify_mode = ssl.CERT_NONE
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", EMULATOR, "--port-file", port_file, "--quiet", *args],
            stdin=subprocess.DEVNULL)
        deadline = time.time() + 15
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("emulator did not start")
            time.sleep(0.02)
        self.port = int(open(port_file).read())
        self.url = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.port)

    def control(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=30, context=self.ssl_ctx) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def reset(self, **body):
        return self.control("POST", "/_emu/reset", body)

    def log(self):
        return self.control("GET", "/_emu/log")["requests"]

    def clear_log(self):
        self.control("POST", "/_emu/log/clear", {})

    def requests(self, method=None, prefix=None):
        return [r for r in self.log()
                if (method is None or r["method"] == method)
                and (prefix is None or r["path"].startswith(prefix))]

    def state(self):
        return self.control("GET", "/_emu/state")["audiences"]

    def by_name(self, name):
        return [a for a in self.state() if a["name"] == name]

    def fault(self, **spec):
        self.control("POST", "/_emu/faults", spec)

    def clear_faults(self):
        self.control("POST", "/_emu/faults/clear", {})

    def stop(self):
        stop_process(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


class Mount:
    """leadpipefs running in the foreground (-f) on a fresh directory."""

    def __init__(self, emu, options="", env=None, extra_args=()):
        os.makedirs(MOUNT_BASE, exist_ok=True)
        self.path = tempfile.mkdtemp(prefix="m-", dir=MOUNT_BASE)
        self.log_path = os.path.join(tempfile.mkdtemp(prefix="lp-log-"), "stderr")
        opts = "base_url=%s" % emu.url + cafile_option(emu, options)
        if options:
            opts += "," + options
        full_env = dict(os.environ)
        full_env["LEADPIPE_API_KEY"] = KEY
        # The results cache belongs to this emulator: its ids repeat from one
        # emulator to the next (seeded), so a cache shared through $HOME could
        # serve one test the results another test downloaded.
        if getattr(emu, "dir", None):
            full_env["XDG_CACHE_HOME"] = os.path.join(emu.dir, "cache")
        full_env.update(env or {})
        self.log_file = open(self.log_path, "w")
        self.proc = subprocess.Popen([BINARY, "-f", "-o", opts, *extra_args, self.path],
                                     env=full_env, stdin=subprocess.DEVNULL,
                                     stdout=self.log_file, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while not os.path.ismount(self.path):
            if self.proc.poll() is not None:
                raise RuntimeError("leadpipefs exited %s: %s" % (self.proc.returncode, self.stderr()))
            if time.time() > deadline:
                self.close()
                raise RuntimeError("mount did not appear: " + self.stderr())
            time.sleep(0.02)

    def stderr(self):
        if not self.log_file.closed:
            self.log_file.flush()
        return open(self.log_path, errors="replace").read()

    def sh(self, script, check=False, timeout=60, **kw):
        """Runs a bash script with M set to the mount point; returns CompletedProcess."""
        env = dict(os.environ, M=self.path)
        env.update(kw.pop("env", {}))
        return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True,
                              check=check, timeout=timeout, **kw)

    def close(self):
        if os.path.ismount(self.path):
            subprocess.run(["fusermount3", "-u", self.path], capture_output=True)
            if os.path.ismount(self.path):
                subprocess.run(["fusermount3", "-uz", self.path], capture_output=True)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log_file.close()
        try:
            os.rmdir(self.path)
        except OSError:
            pass

    def check_clean_exit(self):
        """After close(): the daemon ended by itself with status 0. Under the
        ASan+UBSan build a leak or undefined behaviour makes this fail."""
        assert self.proc.returncode == 0, "leadpipefs exited %s:\n%s" % (
            self.proc.returncode, self.stderr()[-4000:])


class TestPki:
    """A test CA and certificates it signed, made with openssl in a temporary
    directory: server (for 127.0.0.1 and localhost), expired (same names,
    validity over in 2020) and wronghost (for wrong-host.invalid only); and
    rogue, for 127.0.0.1 too but signed by a second CA nobody trusts. Each
    certificate NAME is NAME.pem with its key in NAME.key; the CA is ca.pem."""

    CA_CONF = """[ca]
default_ca = test
[test]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
[leaf]
basicConstraints = CA:FALSE
subjectAltName = $ENV::LP_SAN
"""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="lp-pki-")
        self.ca = self.path("ca.pem")
        self.make_ca("ca", "leadpipefs test CA")
        self.make_ca("rogue-ca", "leadpipefs rogue CA")
        names = "IP:127.0.0.1,DNS:localhost"
        self.sign("server", names, "ca", "20200101000000Z", "20991231000000Z")
        self.sign("expired", names, "ca", "20200101000000Z", "20200201000000Z")
        self.sign("wronghost", "DNS:wrong-host.invalid", "ca", "20200101000000Z",
                  "20991231000000Z")
        self.sign("rogue", names, "rogue-ca", "20200101000000Z", "20991231000000Z")

    def path(self, name):
        return os.path.join(self.dir, name)

    def pair(self, name):
        return self.path(name + ".pem"), self.path(name + ".key")

    def openssl(self, *args, env=None):
        subprocess.run(["openssl", *args], cwd=self.dir, check=True, capture_output=True,
                       env=dict(os.environ, **(env or {})))

    def make_ca(self, name, cn):
        self.openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                     "-subj", "/CN=" + cn, "-keyout", name + ".key", "-out", name + ".pem")

    def sign(self, name, san, ca, start, end):
        """openssl ca, not x509 -req: only it sets a validity in the past."""
        self.openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + name,
                     "-keyout", name + ".key", "-out", name + ".csr")
        with open(self.path("ca.cnf"), "w") as f:
            f.write(self.CA_CONF)
        open(self.path("index.txt"), "w").close()
        with open(self.path("serial"), "w") as f:
            f.write("%02X\n" % (len(os.listdir(self.dir)) + 1))
        self.openssl("ca", "-batch", "-notext", "-config", "ca.cnf", "-extensions", "leaf",
                     "-cert", ca + ".pem", "-keyfile", ca + ".key", "-in", name + ".csr",
                     "-out", name + ".pem", "-startdate", start, "-enddate", end,
                     env={"LP_SAN": san})

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pki():
    p = TestPki()
    yield p
    p.remove()


def cafile_option(emu, options=""):
    """",cafile=CA" for an emulator the emu fixture started over TLS (unless
    options already name a CA file), else "": tests written for http run
    unchanged over https."""
    cafile = getattr(emu, "cafile", None)
    return ",cafile=" + cafile if cafile and "cafile=" not in options else ""


@pytest.fixture
def emu(request):
    if TLS_MODE:
        pki = request.getfixturevalue("pki")
        e = Emulator(["--empty"], tls=pki.pair("server"))
        e.cafile = pki.ca
    else:
        e = Emulator(["--empty"])
    yield e
    e.stop()


@pytest.fixture
def mount_factory(emu):
    mounts = []

    def make(options="cache_timeout=30", **kw):
        m = Mount(emu, options, **kw)
        mounts.append(m)
        return m

    yield make
    for m in mounts:
        m.close()
    # Tests that kill the daemon on purpose set m.killed = True.
    try:
        for m in mounts:
            if not getattr(m, "killed", False):
                m.check_clean_exit()
    finally:
        for m in mounts:  # the daemon's stderr, kept until checked
            shutil.rmtree(os.path.dirname(m.log_path), ignore_errors=True)


# ---- Added for test_faults.py, test_soak.py, test_security.py (reliability and
# security). Helpers only: nothing above changes behaviour because of them.

def pytest_sessionstart(session):
    """Registers the `slow` mark (a test that takes tens of seconds but stays in
    the suite) before collection, so pytest does not warn about an unknown mark."""
    session.config.addinivalue_line("markers", "slow: takes tens of seconds; still part of the suite")
    session.config.addinivalue_line("markers", "connection: a fault of the connection itself "
                                    "(test_faults); the run over TLS selects these")


def kill_emulator(emu, sig=None):
    """Ends emu's process at once (SIGKILL unless sig is given) and waits for it.
    The Emulator object stays usable for restart_emulator()."""
    import signal as _signal
    if emu.proc.poll() is None:
        emu.proc.send_signal(sig if sig is not None else _signal.SIGKILL)
        emu.proc.wait(10)


def restart_emulator(emu, state=None, timeout=15):
    """Starts a new emulator process on emu's port (after kill_emulator or a crash)
    and, when state is given (a /_emu/state answer: {"audiences": [...], "slots": N}),
    loads exactly those audiences (ids, times, configs and all) through the control
    interface. emu.proc is replaced, so the fixture's emu.stop() ends the new one."""
    kill_emulator(emu)
    port_file = os.path.join(emu.dir, "port.restart")
    if os.path.exists(port_file):
        os.unlink(port_file)
    args = ["--port", str(emu.port), "--port-file", port_file, "--quiet", "--empty",
            *getattr(emu, "tls_args", [])]
    if state is not None:
        args += ["--slots", str(state.get("slots", 10))]
    deadline = time.time() + timeout
    while True:
        emu.proc = subprocess.Popen(["/usr/bin/python3", EMULATOR, *args],
                                    stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not os.path.exists(port_file) and emu.proc.poll() is None:
            if time.time() > deadline:
                raise RuntimeError("restarted emulator did not start")
            time.sleep(0.02)
        if os.path.exists(port_file):
            break
        # The port can stay busy for a moment after a kill; try again.
        if time.time() > deadline:
            raise RuntimeError("cannot restart the emulator on port %d" % emu.port)
        time.sleep(0.2)
    for aud in (state or {}).get("audiences", []):
        emu.control("POST", "/_emu/audiences", aud)
    emu.clear_log()
    return emu


def full_state(emu):
    """The whole /_emu/state answer (audiences and slots), for restart_emulator."""
    return emu.control("GET", "/_emu/state")


def write_errno(path, data, flags=os.O_WRONLY | os.O_TRUNC):
    """open, write all of data (one write(2) where it fits, the way echo >, cp
    and tee do it), close; returns 0 or the first errno of open, write or close."""
    try:
        fd = os.open(path, flags)
    except OSError as e:
        return e.errno
    err = 0
    try:
        while data:
            n = os.write(fd, data)
            data = data[n:]
    except OSError as e:
        err = e.errno
    try:
        os.close(fd)
    except OSError as e:
        err = err or e.errno
    return err


def daemon_fds(pid):
    """{fd: link target} of a process (sockets show as socket:[inode])."""
    out = {}
    base = "/proc/%d/fd" % pid
    for fd in os.listdir(base):
        try:
            out[int(fd)] = os.readlink(os.path.join(base, fd))
        except OSError:
            pass
    return out


def sanitized_binary():
    """True when the leadpipefs under test was built with AddressSanitizer
    (whose quarantine keeps freed memory: RSS says nothing there)."""
    with open(BINARY, "rb") as f:
        return b"__asan_init" in f.read()


def daemon_rss_kib(pid):
    """VmRSS of a process in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for %d" % pid)


def reap_dead_mount(m):
    """If m's daemon has died, detaches its mount: a dead FUSE mount answers
    ENOTCONN, which os.path.ismount() reports as "not a mount", so Mount.close()
    alone would leave it behind."""
    if m.proc.poll() is not None:
        subprocess.run(["fusermount3", "-uz", m.path], capture_output=True)


def run_binary(args, env, timeout=60):
    """Runs leadpipefs in the foreground on a fresh mount point and expects it to
    refuse to start; returns (CompletedProcess, whether the directory was a
    mount point at exit)."""
    os.makedirs(MOUNT_BASE, exist_ok=True)
    mnt = tempfile.mkdtemp(prefix="m-", dir=MOUNT_BASE)
    try:
        res = subprocess.run([BINARY, "-f", *args, mnt], env=env, capture_output=True,
                             text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        mounted = os.path.ismount(mnt)
    finally:
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-uz", mnt])
        os.rmdir(mnt)
    return res, mounted


# ---- Added for test_proxy.py: a real HTTP proxy (Debian's tinyproxy) and a
# relay in front of it that keeps every byte a client sent to the proxy.
# Imported here, with the helpers that need them, to keep this part apart.
import socket  # noqa: E402
import threading  # noqa: E402

TINYPROXY = shutil.which("tinyproxy") or "/usr/sbin/tinyproxy"


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now (for a server
    such as tinyproxy that cannot pick one itself and tell us)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, timeout):
    """True once something accepts on 127.0.0.1:port; False if proc ended
    first or timeout seconds passed."""
    deadline = time.time() + timeout
    while proc.poll() is None and time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Tinyproxy:
    """tinyproxy in the foreground (-d) with a config file of its own in a
    temporary directory: it listens on 127.0.0.1 only, serves 127.0.0.1 only,
    allows CONNECT to connect_port only (its default list, 443 and 563, would
    refuse the emulator's port) and logs to its own file. A system tinyproxy
    (/etc/tinyproxy, port 8888) is neither used nor disturbed. No User line:
    run as root it stays root (and warns), which keeps the log file writable."""

    CONF = """Port {port}
Listen 127.0.0.1
Allow 127.0.0.1
ConnectPort {connect_port}
Timeout 60
MaxClients 50
LogLevel Connect
LogFile "{dir}/tinyproxy.log"
PidFile "{dir}/tinyproxy.pid"
"""

    def __init__(self, connect_port):
        if not os.path.exists(TINYPROXY):
            raise RuntimeError("tinyproxy not found (tests/deps.sh installs it)")
        self.dir = tempfile.mkdtemp(prefix="lp-proxy-")
        self.log_path = os.path.join(self.dir, "tinyproxy.log")
        self.proc = None
        # The port is chosen before tinyproxy binds it: another process may
        # take it meanwhile, so a start that fails is tried on another port.
        for _ in range(5):
            self.port = free_port()
            conf = os.path.join(self.dir, "tinyproxy.conf")
            with open(conf, "w") as f:
                f.write(self.CONF.format(port=self.port, connect_port=connect_port, dir=self.dir))
            self.proc = subprocess.Popen([TINYPROXY, "-d", "-c", conf], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if wait_listening(self.port, self.proc, 10):
                return
            self.stop_process()
        shutil.rmtree(self.dir, ignore_errors=True)
        raise RuntimeError("tinyproxy did not start")

    def log(self):
        try:
            return open(self.log_path, errors="replace").read()
        except FileNotFoundError:
            return ""

    def stop_process(self):
        if self.proc:
            stop_process(self.proc)

    def stop(self):
        self.stop_process()
        shutil.rmtree(self.dir, ignore_errors=True)


class Relay:
    """A TCP relay on a port of its own to upstream_port (both 127.0.0.1): each
    connection is passed on as it is, and every byte clients sent is kept, one
    stream per connection (streams(), sent()), so a test sees exactly what
    reached the proxy behind it."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.lock = threading.Lock()
        self.received = []  # one bytearray per connection, in the order accepted
        self.sockets = []
        self.threads = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self._start(self._accept)

    def _start(self, target, *args):
        t = threading.Thread(target=target, args=args, daemon=True)
        self.threads.append(t)
        t.start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # close() shut the listener down
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
                upstream.settimeout(None)  # an idle kept-alive tunnel is not an error
            except OSError:
                client.close()
                continue
            kept = bytearray()
            with self.lock:
                self.received.append(kept)
                self.sockets += [client, upstream]
            self._start(self._pipe, client, upstream, kept)
            self._start(self._pipe, upstream, client, None)

    def _pipe(self, src, dst, keep):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if keep is not None:
                    with self.lock:
                        keep += data
                dst.sendall(data)
        except OSError:
            pass
        try:  # pass the end on, so each side sees the other close
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    @property
    def connections(self):
        with self.lock:
            return len(self.received)

    def streams(self):
        """What clients sent so far, one bytes per connection."""
        with self.lock:
            return [bytes(b) for b in self.received]

    def sent(self):
        """Every byte clients sent so far, connection after connection."""
        return b"".join(self.streams())

    def close(self):
        for s in [self.listener] + self.sockets:
            try:  # shutdown wakes a thread blocked in accept or recv; close alone does not
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        for t in self.threads:
            t.join(5)
