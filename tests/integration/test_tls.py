"""leadpipefs over https, against the emulator speaking TLS with certificates
of a test CA (conftest.TestPki): the mount works when that CA is trusted
through -o cafile or $CURL_CA_BUNDLE, and start-up ends with exit 1, nothing
mounted and the certificate's problem named when it is not (unknown CA,
expired, wrong host name) or when the CA file cannot be used."""
import json
import os
import subprocess
import tempfile

import pytest

from conftest import BINARY, KEY, MOUNT_BASE, Emulator, Mount, run_binary


@pytest.fixture
def tls_emu(pki, request):
    """The emulator with --seed 3, serving the certificate named by the test's
    parameter (default: server, valid for 127.0.0.1)."""
    name = getattr(request, "param", "server")
    e = Emulator(["--seed", "3"], tls=pki.pair(name))
    yield e
    e.stop()


def no_ca_env(**extra):
    """The test's environment without a CA bundle of its own, whatever the
    caller's shell had: each test says where the CA comes from."""
    env = {k: v for k, v in os.environ.items() if k != "CURL_CA_BUNDLE"}
    env["LEADPIPE_API_KEY"] = KEY
    env.update(extra)
    return env


def start(emu, options, env):
    """leadpipefs -f against emu, expected to refuse to start (run_binary)."""
    opts = "base_url=%s,timeout=5%s" % (emu.url, "," + options if options else "")
    return run_binary(["-o", opts], env)


# ---------------------------------------------------------------- it works over TLS


@pytest.mark.parametrize("ca_from", ["cafile", "CURL_CA_BUNDLE"])
def test_mount_works_over_tls(pki, tls_emu, ca_from):
    """ls, cat config.json, a status write (PATCH), mkdir + cp of a config
    (POST) and rmdir (DELETE), all over https with the test CA trusted, given
    by -o cafile or by $CURL_CA_BUNDLE."""
    if ca_from == "cafile":
        m = Mount(tls_emu, "cafile=" + pki.ca, env=no_ca_env())
    else:
        m = Mount(tls_emu, "", env=no_ca_env(CURL_CA_BUNDLE=pki.ca))
    try:
        state = {a["name"]: a for a in tls_emu.state()}
        assert sorted(os.listdir(m.path)) == sorted(state)

        first = state["Audience 00001"]
        r = m.sh('cat "$M/Audience 00001/config.json"', check=True)
        assert r.stdout.endswith("\n") and json.loads(r.stdout) == first["config"], r.stdout

        active = [a for a in state.values() if a["status"] == "active"][0]
        tls_emu.clear_log()
        m.sh('echo paused > "$M/%s/status"' % active["name"], check=True)
        patches = tls_emu.requests("PATCH")
        assert [(p["path"], p["body"]) for p in patches] == \
            [("/v1/intent/audiences/" + active["id"], {"status": "paused"})], patches
        assert m.sh('cat "$M/%s/status"' % active["name"]).stdout == "paused\n"

        tls_emu.clear_log()
        r = m.sh('mkdir "$M/Copy" && cp "$M/Audience 00001/config.json" "$M/Copy/"')
        assert r.returncode == 0, r.stderr
        posts = tls_emu.requests("POST")
        assert len(posts) == 1 and posts[0]["body"]["name"] == "Copy", posts
        assert posts[0]["body"]["config"] == first["config"]
        copy = tls_emu.by_name("Copy")
        assert len(copy) == 1 and copy[0]["config"] == first["config"]

        tls_emu.clear_log()
        assert m.sh('rmdir "$M/Copy"').returncode == 0
        assert [d["path"] for d in tls_emu.requests("DELETE")] == \
            ["/v1/intent/audiences/" + copy[0]["id"]]
        assert tls_emu.by_name("Copy") == []
    finally:
        m.close()
    m.check_clean_exit()


# ---------------------------------------------------------------- certificates refused

REFUSED = [
    # (certificate served, trust the test CA?, words of the problem, curl's words)
    ("rogue", True, "not signed by a certificate authority trusted here",
     "unable to get local issuer certificate"),
    ("server", False, "not signed by a certificate authority trusted here",
     "unable to get local issuer certificate"),
    ("expired", True, "has expired", "certificate has expired"),
    ("wronghost", True, "made out for another host name", "'127.0.0.1'"),
]


@pytest.mark.parametrize("tls_emu,trust,problem,detail", REFUSED, indirect=["tls_emu"],
                         ids=["unknown-ca", "system-cas-only", "expired", "wrong-host"])
def test_certificate_problem_is_named(pki, tls_emu, trust, problem, detail):
    """A certificate from an unknown CA, an expired one, one for another host:
    exit 1, nothing mounted, one message naming the problem (not "cannot
    reach"), and no request reached the server, so neither did the key."""
    res, mounted = start(tls_emu, ("cafile=%s," % pki.ca if trust else "") + "tries=3",
                         no_ca_env())
    assert res.returncode == 1 and not mounted, res
    first = res.stderr.splitlines()[0]
    assert first.startswith("leadpipefs: TLS certificate problem with %s: " % tls_emu.url), first
    assert problem in first and detail in first and "nothing was sent" in first, first
    assert "cannot reach" not in res.stderr
    # One TLS connection, though 3 tries were allowed: the same certificate
    # would be refused again. The host name is checked after the handshake,
    # the others during it; this first control call adds its own handshake.
    tls = tls_emu.control("GET", "/_emu/tls")
    assert tls["refused"] + tls["handshakes"] == 2, tls
    assert tls_emu.log() == []
    hint = "-o cafile=PATH or CURL_CA_BUNDLE=PATH"
    assert (hint in res.stderr) == (problem.startswith("not signed")), res.stderr


# ---------------------------------------------------------------- CA files that cannot be used


def ca_file_cases(pki):
    missing = os.path.join(pki.dir, "no-such-ca.pem")
    not_pem = os.path.join(pki.dir, "index.txt")
    return [
        (missing, "cannot read the CA file %s" % missing, "No such file or directory"),
        (pki.dir, "the CA file %s" % pki.dir, "is not a regular file"),
        (not_pem, "the CA file %s" % not_pem, "holds no PEM certificate"),
    ]


@pytest.mark.parametrize("case", [0, 1, 2], ids=["missing", "directory", "not-pem"])
@pytest.mark.parametrize("given_by", ["-o cafile", "$CURL_CA_BUNDLE"])
def test_unusable_ca_file_ends_start_up(pki, tls_emu, case, given_by):
    """A CA file that does not exist, is a directory or holds no certificate:
    exit 1 with a message naming the file and where it came from, before any
    request, nothing mounted."""
    path, what, why = ca_file_cases(pki)[case]
    if given_by == "-o cafile":
        res, mounted = start(tls_emu, "cafile=" + path, no_ca_env())
    else:
        res, mounted = start(tls_emu, "", no_ca_env(CURL_CA_BUNDLE=path))
    assert res.returncode == 1 and not mounted, res
    assert res.stderr == "leadpipefs: %s (%s)%s\n" % (
        what, given_by, ": " + why if case == 0 else " " + why + (
            " (-----BEGIN CERTIFICATE-----)" if case == 2 else "")), res.stderr
    assert tls_emu.log() == []


def test_cafile_wins_over_curl_ca_bundle(pki, tls_emu):
    """-o cafile is used when both are given: a $CURL_CA_BUNDLE that would
    fail start-up is not even looked at."""
    m = Mount(tls_emu, "cafile=" + pki.ca,
              env=no_ca_env(CURL_CA_BUNDLE=os.path.join(pki.dir, "no-such-ca.pem")))
    try:
        assert len(os.listdir(m.path)) == 3
    finally:
        m.close()
    m.check_clean_exit()


def test_relative_cafile_still_read_after_daemonizing(pki, tls_emu):
    """A relative cafile names a file from the directory leadpipefs was
    started in, also for connections opened once it runs in the background
    (where its working directory is /)."""
    mnt = tempfile.mkdtemp(prefix="m-", dir=MOUNT_BASE)
    env = no_ca_env()
    try:
        r = subprocess.run([BINARY, "-o", "base_url=%s,cafile=ca.pem" % tls_emu.url, mnt],
                           env=env, cwd=pki.dir, capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 0 and os.path.ismount(mnt), r.stderr
        tls_emu.clear_log()
        # Fresh connections after the fork: a POST always opens one.
        r = subprocess.run(["mkdir", os.path.join(mnt, "Later")], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        src = os.path.join(mnt, "Audience 00001", "config.json")
        with open(src, "rb") as f:
            config = f.read()
        with open(os.path.join(mnt, "Later", "config.json"), "wb") as f:
            f.write(config)
        assert len(tls_emu.requests("POST")) == 1
        assert len(tls_emu.by_name("Later")) == 1
    finally:
        subprocess.run(["fusermount3", "-u", mnt], capture_output=True)
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-uz", mnt], capture_output=True)
        os.rmdir(mnt)
