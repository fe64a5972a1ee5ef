"""leadpipefs as the system meets it: installed by meson, mounted through
mount(8) and /etc/fstab syntax, logging to syslog when detached."""
import os
import re
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import BINARY, KEY, MOUNT_BASE

BUILD_DIR = os.environ.get("LP_BUILD_DIR") or os.path.join(os.path.dirname(BINARY), "..")
SBIN_LINK = "/usr/local/sbin/leadpipefs"


@pytest.fixture
def installed():
    """`meson install` into a temporary prefix; yields the DESTDIR root."""
    dest = tempfile.mkdtemp(prefix="lp-install-")
    r = subprocess.run(["meson", "install", "-C", BUILD_DIR, "--no-rebuild", "--destdir", dest],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    yield dest
    subprocess.run(["rm", "-rf", dest])


def find(root, name):
    for d, _, files in os.walk(root):
        if name in files:
            return os.path.join(d, name)
    raise AssertionError("%s not installed under %s" % (name, root))


def test_meson_install_puts_binary_and_man_page(installed):
    binary = find(installed, "leadpipefs")
    page = find(installed, "leadpipefs.1")
    assert "/bin/" in binary and "/man/man1/" in page
    version = subprocess.run([binary, "--version"], capture_output=True, text=True)
    meson_version = open(os.path.join(os.path.dirname(__file__), "..", "..",
                                      "meson.build")).read().split("version : '")[1].split("'")[0]
    assert version.returncode == 0
    assert version.stdout.splitlines()[0] == "leadpipefs " + meson_version
    man = subprocess.run(["man", "-l", page], capture_output=True, text=True,
                         env=dict(os.environ, MANPAGER="cat", MAN_KEEP_FORMATTING="0"))
    assert man.returncode == 0, man.stderr
    text = re.sub(".\b", "", man.stdout)  # drop the terminal's overstrike bold
    assert "leadpipefs - mount the Leadpipe Intent audiences API" in text
    assert "NAME ENCODING" in text and "fuse.leadpipefs" in text


@pytest.fixture
def key_file():
    fd, path = tempfile.mkstemp(prefix="lp-key-")
    os.write(fd, (KEY + "\n").encode())
    os.close(fd)
    os.chmod(path, 0o600)
    yield path
    os.unlink(path)


@pytest.fixture
def on_mount_path(installed):
    """mount(8) runs helpers with no PATH of its own, so /bin/sh's default
    PATH (which has /usr/local/sbin) finds the program: put the installed
    binary there for the test."""
    if os.path.lexists(SBIN_LINK):
        pytest.skip("%s exists already; not touching it" % SBIN_LINK)
    os.symlink(find(installed, "leadpipefs"), SBIN_LINK)
    yield
    os.unlink(SBIN_LINK)


@pytest.fixture
def mountpoint():
    os.makedirs(MOUNT_BASE, exist_ok=True)
    mp = tempfile.mkdtemp(prefix="sys-", dir=MOUNT_BASE)
    yield mp
    if os.path.ismount(mp):
        subprocess.run(["umount", "-l", mp])
    os.rmdir(mp)


def fstype(mp):
    for line in open("/proc/mounts"):
        f = line.split()
        if f[1] == mp:
            return f[2], f[3]
    return None, None


def test_mount_t_fuse_leadpipefs(emu, on_mount_path, key_file, mountpoint):
    emu.reset(sample=True)
    r = subprocess.run(["mount", "-t", "fuse.leadpipefs", "leadpipe", mountpoint, "-o",
                        "api_key_file=%s,base_url=%s" % (key_file, emu.url)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    kind, opts = fstype(mountpoint)
    assert kind == "fuse.leadpipefs"
    assert "default_permissions" in opts
    names = set(os.listdir(mountpoint))
    assert "Marketing Directors at Tech Companies" in names
    assert len(names) == len(emu.state())
    assert subprocess.run(["umount", mountpoint]).returncode == 0
    assert not os.path.ismount(mountpoint)


def test_fstab_line(emu, on_mount_path, key_file, mountpoint):
    emu.reset(sample=True)
    fstab = tempfile.NamedTemporaryFile("w", prefix="fstab-", delete=False)
    fstab.write("leadpipe %s fuse.leadpipefs defaults,_netdev,nofail,api_key_file=%s,"
                "base_url=%s,cache_timeout=60 0 0\n" % (mountpoint, key_file, emu.url))
    fstab.close()
    try:
        r = subprocess.run(["mount", "--fstab", fstab.name, mountpoint],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert fstype(mountpoint)[0] == "fuse.leadpipefs"
        status = open(os.path.join(mountpoint, "Marketing Directors at Tech Companies",
                                   "status")).read()
        want = [a for a in emu.state() if a["name"] == "Marketing Directors at Tech Companies"]
        assert status == want[0]["status"] + "\n"
    finally:
        os.unlink(fstab.name)
        subprocess.run(["umount", mountpoint], capture_output=True)


class SyslogCatcher:
    """A datagram socket on /dev/log that keeps what arrives (no syslog daemon here)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("/dev/log")
        self.sock.settimeout(0.2)
        self.lines = []
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                self.lines.append(self.sock.recv(65536).decode(errors="replace"))
            except socket.timeout:
                continue

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()
        os.unlink("/dev/log")


def test_detached_daemon_logs_to_syslog(emu, key_file, mountpoint):
    if os.path.exists("/dev/log"):
        pytest.skip("a syslog daemon owns /dev/log; not intercepting it")
    catcher = SyslogCatcher()
    try:
        emu.reset(sample=True)
        emu.control("POST", "/_emu/settings", {"slots": 8})  # the sample has 8 active
        r = subprocess.run([BINARY, "-o", "api_key_file=%s,base_url=%s" % (key_file, emu.url),
                            mountpoint], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr  # detached: returns once mounted
        assert r.stderr == ""
        draft = [a["name"] for a in emu.state() if a["status"] == "draft"
                 and "/" not in a["name"] and len(a["name"].encode()) < 200][0]
        w = subprocess.run(["bash", "-c", "echo active > \"$0/status\"",
                            os.path.join(mountpoint, draft)], capture_output=True, text=True)
        assert "Disk quota exceeded" in w.stderr
        deadline = time.time() + 5
        while time.time() < deadline and not any("slots" in l for l in catcher.lines):
            time.sleep(0.05)
        ours = [l for l in catcher.lines if "leadpipefs[" in l]
        assert any("mounted on " + mountpoint in l for l in ours), catcher.lines
        assert any("All audience slots are in use" in l for l in ours), catcher.lines
        assert not any(KEY in l for l in catcher.lines)
    finally:
        subprocess.run(["fusermount3", "-u", mountpoint], capture_output=True)
        catcher.close()
