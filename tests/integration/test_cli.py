"""Start-up and command line of leadpipefs, run as a user (or mount.fuse3) runs it.

Covers SPEC.md "Invocation" and design.md: the key check before detaching
(exit 1, one line, nothing mounted), the http/https rule, where the key may
come from and where it must never show, --help/--version, usage errors
(exit 2) and the mount.fuse3 calling convention.
"""
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import BINARY, KEY, MOUNT_BASE, Emulator, Mount, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
LIST = "/v1/intent/audiences"


# ---------------------------------------------------------------- helpers

def clean_env(key=None, **extra):
    """os.environ without any LEADPIPE_* variable, plus the given key and extras."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADPIPE_")
           and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    if key is not None:
        env["LEADPIPE_API_KEY"] = key
    env.update(extra)
    return env


def leadpipefs(*args, key=KEY, env=None, timeout=60):
    """Runs leadpipefs as typed in a shell (detaching on success); returns
    (CompletedProcess, seconds it took)."""
    t0 = time.monotonic()
    r = subprocess.run([BINARY, *args], env=env if env is not None else clean_env(key),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    return r, time.monotonic() - t0


def daemon_pids(mountpoint):
    """Pids of leadpipefs processes whose command line names this mount point."""
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"leadpipefs" and \
                os.fsencode(mountpoint) in argv:
            pids.append(int(p))
    return pids


def unmount(mountpoint):
    """Unmounts if mounted and waits for the daemon(s) of this mount point to end."""
    pids = daemon_pids(mountpoint)
    if os.path.ismount(mountpoint):
        subprocess.run(["fusermount3", "-u", mountpoint], capture_output=True)
        if os.path.ismount(mountpoint):
            subprocess.run(["fusermount3", "-uz", mountpoint], capture_output=True)
    deadline = time.time() + 10
    for pid in pids:
        while os.path.exists("/proc/%d" % pid) and time.time() < deadline:
            time.sleep(0.05)
        if os.path.exists("/proc/%d" % pid):
            os.kill(pid, signal.SIGKILL)


class Trap:
    """A loopback socket that records every connection made to it and what was sent.
    listen_only=True: connections complete in the backlog but nothing ever answers."""

    def __init__(self, listen_only=False):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.received = []
        self.conns = []
        self.stopped = False
        if not listen_only:
            self.thread = threading.Thread(target=self._serve, daemon=True)
            self.thread.start()

    def _serve(self):
        self.sock.settimeout(0.1)
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(c)
            c.settimeout(0.5)
            try:
                self.received.append(c.recv(65536))
            except OSError:
                self.received.append(b"")

    def close(self):
        self.stopped = True
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.fixture
def mp():
    """A fresh mount point, unmounted (daemon waited for) and removed afterwards."""
    os.makedirs(MOUNT_BASE, exist_ok=True)
    path = tempfile.mkdtemp(prefix="cli-", dir=MOUNT_BASE)
    yield path
    unmount(path)
    os.rmdir(path)


@pytest.fixture
def secret():
    """A random key and an emulator that accepts only it (so a leak is unambiguous)."""
    key = "sk_live_" + secrets.token_hex(16)
    e = Emulator(["--sample", "--key", key])
    yield key, e
    e.stop()


def assert_not_mounted(path):
    assert not os.path.ismount(path), "%s is mounted" % path
    assert daemon_pids(path) == [], "a leadpipefs process is still running for %s" % path


# ---------------------------------------------------------------- start-up check

def test_rejected_key_exits_1_naming_the_cause(emu, mp):
    emu.reset(sample=True)
    r, took = leadpipefs("-o", "base_url=" + emu.url, mp, key="sk_wrong_key")
    assert r.returncode == 1, r.stderr
    assert "rejected the key" in r.stderr and "401" in r.stderr, r.stderr
    assert "sk_wrong_key" not in r.stderr + r.stdout
    assert_not_mounted(mp)
    lists = emu.requests("GET", LIST)
    assert len(lists) == 1 and lists[0]["status"] == 401, lists


def test_missing_key_exits_1(emu, mp):
    r, _ = leadpipefs("-o", "base_url=" + emu.url, mp, key=None)
    assert r.returncode == 1
    assert "no API key" in r.stderr and "LEADPIPE_API_KEY" in r.stderr, r.stderr
    assert_not_mounted(mp)
    assert emu.log() == []


def test_unreachable_api_exits_1_quickly(mp):
    url = "http://127.0.0.1:%d" % free_port()
    r, took = leadpipefs("-o", "base_url=%s,timeout=1,tries=2" % url, mp)
    assert r.returncode == 1, r.stderr
    assert "cannot reach" in r.stderr and url in r.stderr, r.stderr
    assert took < 3.5
    assert_not_mounted(mp)


def test_hanging_api_exits_1_within_timeout_times_tries(mp):
    trap = Trap(listen_only=True)  # connections complete, nothing ever answers
    try:
        r, took = leadpipefs("-o", "base_url=%s,timeout=1,tries=2" % trap.url, mp)
    finally:
        trap.close()
    assert r.returncode == 1, r.stderr
    assert trap.url in r.stderr, r.stderr
    assert 1.9 <= took <= 1 * 2 + 1.5, "start-up gave up after %.2fs" % took
    assert_not_mounted(mp)


@pytest.mark.parametrize("case", ["bad key", "unreachable"])
def test_startup_failure_is_one_line(emu, mp, case):
    emu.reset(sample=True)
    if case == "bad key":
        r, _ = leadpipefs("-o", "base_url=" + emu.url, mp, key="sk_wrong_key")
    else:
        url = "http://127.0.0.1:%d" % free_port()
        r, _ = leadpipefs("-o", "base_url=%s,timeout=1,tries=1" % url, mp)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].count("cannot reach") <= 1, lines


# ---------------------------------------------------------------- http / https

@pytest.mark.parametrize("url", [
    "http://example.invalid",
    "http://example.invalid:8080/v1",
    "http://10.1.2.3",
    "http://[fe80::1]/",
    "HTTP://example.invalid",
    "ftp://example.invalid",
    "http://127.0.0.1.example.invalid/",
    "http://localhost.example.invalid/",
    "http://localhost@example.invalid/",
])
def test_plain_http_to_remote_host_refused_before_connecting(mp, url):
    # Any connection curl would make goes to the trap through the proxy
    # variables, so "refused before any connection" is observable.
    trap = Trap()
    try:
        env = clean_env(KEY, http_proxy=trap.url, HTTPS_PROXY=trap.url, ALL_PROXY=trap.url)
        r, took = leadpipefs("-o", "base_url=%s,timeout=1,tries=1" % url, mp, env=env)
        time.sleep(0.1)
    finally:
        trap.close()
    assert trap.received == [], "a connection was made, sending %r" % trap.received[0][:300]
    assert r.returncode == 1, r.stderr
    assert "https://" in r.stderr, r.stderr
    assert took < 2
    assert_not_mounted(mp)


@pytest.mark.parametrize("fmt", ["https://127.0.0.1:%d", "https://localhost:%d/",
                                 "http://127.0.0.1:%d", "http://127.4.5.6:%d", "http://localhost:%d",
                                 "http://[::1]:%d"])
def test_https_and_loopback_http_pass_the_check(mp, fmt):
    url = fmt % free_port()
    r, _ = leadpipefs("-o", "base_url=%s,timeout=1,tries=1" % url, mp)
    assert r.returncode == 1
    assert "cannot reach" in r.stderr and "refus" not in r.stderr, r.stderr
    assert_not_mounted(mp)


def test_base_url_from_environment(emu, mp):
    emu.reset(sample=True)
    r, _ = leadpipefs(mp, env=clean_env(KEY, LEADPIPE_BASE_URL=emu.url))
    assert r.returncode == 0, r.stderr
    assert len(os.listdir(mp)) == len(emu.state())


# ---------------------------------------------------------------- where the key comes from

def write_key_file(directory, mode, key=KEY):
    path = os.path.join(directory, "key")
    with open(path, "w") as f:
        f.write(key + "\n# a comment line\n")
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_file_readable_by_others_refused(emu, mp, tmp_path, mode):
    path = write_key_file(str(tmp_path), mode)
    r, _ = leadpipefs("-o", "base_url=%s,api_key_file=%s" % (emu.url, path), mp, key=None)
    assert r.returncode == 1
    assert path in r.stderr and "chmod 600" in r.stderr and "readable" in r.stderr, r.stderr
    assert_not_mounted(mp)
    assert emu.log() == [], "a request was sent with a refused key file"


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_key_file_0600_mounts(emu, mp, tmp_path, mode):
    emu.reset(sample=True)
    path = write_key_file(str(tmp_path), mode)
    r, _ = leadpipefs("-o", "base_url=%s,api_key_file=%s" % (emu.url, path), mp, key=None)
    assert r.returncode == 0, r.stderr
    assert os.path.ismount(mp)
    assert len(os.listdir(mp)) == len(emu.state())


def test_key_option_on_command_line_refused(emu, mp):
    r, _ = leadpipefs("-o", "base_url=%s,api_key=%s" % (emu.url, KEY), mp, key=None)
    assert r.returncode != 0
    assert "command line" in r.stderr, r.stderr
    assert KEY not in r.stderr + r.stdout
    assert_not_mounted(mp)
    assert emu.log() == []


# ---------------------------------------------------------------- where the key must never show

def test_key_not_in_ps_cmdline_or_environ_of_daemon(secret, mp):
    key, e = secret
    env = clean_env(key, LP_TEST_MARKER="marker-visible")
    r, _ = leadpipefs("-o", "base_url=" + e.url, mp, env=env)
    assert r.returncode == 0, r.stderr
    pids = daemon_pids(mp)
    assert len(pids) == 1, pids
    pid = pids[0]
    # (the emulator's own command line holds --key: look at the daemon's lines only)
    ps = subprocess.run(["ps", "-ef"], capture_output=True, text=True).stdout.splitlines()
    mine = [line for line in ps if line.split()[1] == str(pid)]
    assert len(mine) == 1 and mp in mine[0], mine
    assert key not in mine[0]
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        assert key.encode() not in f.read()
    with open("/proc/%d/environ" % pid, "rb") as f:
        environ = f.read()
    assert b"LP_TEST_MARKER=marker-visible" in environ, "environ not readable: test is void"
    assert key.encode() not in environ
    assert key[3:].encode() not in environ


def test_key_not_in_debug_log(secret):
    key, e = secret
    m = Mount(e, "cache_timeout=1", env={"LEADPIPE_API_KEY": key}, extra_args=("-d",))
    try:
        name = e.state()[0]["name"]
        r = m.sh('ls -l "$M" >/dev/null && cat "$M"/*/size >/dev/null && '
                 'cat "$M/$N/config.json" >/dev/null && getfattr -d "$M/$N" >/dev/null && '
                 'echo paused > "$M/$N/status" && sleep 1.2 && ls "$M" >/dev/null',
                 env={"N": name})
        assert r.returncode == 0, r.stderr
        with open("/proc/%d/environ" % m.proc.pid, "rb") as f:
            assert key.encode() not in f.read()
        log = m.stderr()
    finally:
        m.close()
    assert re.search(r"GET /v1/intent/audiences\?limit=100&offset=0 200 ", log), log[-2000:]
    assert re.search(r"GET /v1/intent/audiences/[0-9a-f-]{36} 200 ", log), log[-2000:]
    assert re.search(r"PATCH /v1/intent/audiences/[0-9a-f-]{36} 200 ", log), log[-2000:]
    assert "LOOKUP" in log or "lookup" in log, "no libfuse debug output: is -d on?"
    assert key not in log and key[3:] not in log and key[-16:] not in log


# ---------------------------------------------------------------- help, version, usage

def project_version():
    text = open(os.path.join(ROOT, "meson.build")).read()
    return re.search(r"version\s*:\s*'([^']+)'", text).group(1)


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag):
    r, _ = leadpipefs(flag)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "leadpipefs " + project_version()
    assert "FUSE" in r.stdout and "curl" in r.stdout


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_lists_every_option(flag):
    r, _ = leadpipefs(flag)
    assert r.returncode == 0, r.stderr
    for opt in ["base_url=", "api_key_file=", "cache_timeout=", "timeout=", "tries=",
                "scratch_size=", "-f", "-d", "-s", "allow_other", "--version"]:
        assert opt in r.stdout, "%s missing from --help" % opt
    assert "api_key=" not in r.stdout.replace("api_key_file=", "")


def test_help_covers_the_man_page_options():
    man = open(os.path.join(ROOT, "man", "leadpipefs.1.rst")).read()
    documented = set(re.findall(r"^\*\*-o (?:\*\*)?([a-z_]+)", man, re.M))
    assert {"base_url", "tries", "ro", "allow_other"} <= documented, documented
    out = leadpipefs("--help")[0].stdout
    missing = sorted(o for o in documented if not re.search(r"(?<![\w-])%s(?![\w-])" % o, out))
    assert missing == []


@pytest.mark.parametrize("args", [
    [],
    ["-f"],
    ["-o", "cache_timeout=abc", "{mp}"],
    ["-o", "timeout=0", "{mp}"],
    ["-o", "tries=0", "{mp}"],
    ["-o", "scratch_size=lots", "{mp}"],
    ["leadpipe", "{mp}", "{mp}"],
    ["--bogus", "{mp}"],
    ["-o", "bogus_option=1", "{mp}"],
])
def test_usage_errors_exit_2_before_any_request(emu, mp, args):
    emu.reset(sample=True)
    argv = [a.replace("{mp}", mp) for a in args]
    r, _ = leadpipefs("-o", "base_url=" + emu.url, *argv)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.strip(), "no message"
    assert_not_mounted(mp)
    assert emu.log() == []


# ---------------------------------------------------------------- mount.fuse3 style

def test_source_operand_first(emu, mp):
    emu.reset(sample=True)
    r, _ = leadpipefs("leadpipe", mp, "-o", "base_url=%s,cache_timeout=5" % emu.url)
    assert r.returncode == 0, r.stderr
    assert os.path.ismount(mp)
    assert sorted(os.listdir(mp)) == sorted(
        subprocess.run(["ls", "-A", mp], capture_output=True, text=True).stdout.splitlines())
    assert len(os.listdir(mp)) == len(emu.state())
    with open("/proc/self/mountinfo") as f:
        line = [x for x in f if " %s " % mp in x][0]
    assert "fuse.leadpipefs" in line


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount.fuse3"),
                    reason="needs root and mount.fuse3")
def test_mount_fuse3_helper(emu, mp, tmp_path):
    # What mount -t fuse.leadpipefs and /etc/fstab run (mount(8) itself resets
    # PATH, so the helper is called directly with the build directory on PATH).
    emu.reset(sample=True)
    key = write_key_file(str(tmp_path), 0o600)
    env = clean_env(None, PATH=os.path.dirname(os.path.abspath(BINARY)) + ":" + os.environ["PATH"])
    r = subprocess.run(["mount.fuse3", "leadpipe", mp, "-t", "leadpipefs", "-o",
                        "base_url=%s,api_key_file=%s,cache_timeout=60,_netdev,nofail" % (emu.url, key)],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert os.path.ismount(mp)
    assert len(os.listdir(mp)) == len(emu.state())


def test_foreground_exits_0_after_unmount(emu):
    emu.reset(sample=True)
    m = Mount(emu, "cache_timeout=5")
    try:
        assert len(os.listdir(m.path)) == len(emu.state())
        subprocess.run(["fusermount3", "-u", m.path], check=True)
        assert m.proc.wait(15) == 0
    finally:
        m.close()
