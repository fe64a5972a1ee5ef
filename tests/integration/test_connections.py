"""How leadpipefs spreads its requests over connections (issue 15): a cold
`ls` and `cat M/*/config.json` reuses the connections it opened instead of
opening one per request. The emulator counts the TCP connections that
carried an API request and the most requests it answered at once
(GET /_emu/conns)."""
import json

import pytest

from conftest import Emulator

AUDIENCES = 40


@pytest.fixture
def emu():
    """Seeded, with a little latency so that the sweep's requests overlap
    (mount_factory mounts this one)."""
    e = Emulator(["--seed", str(AUDIENCES), "--latency-ms", "20"])
    yield e
    e.stop()


def read_every_config(m):
    """A cold `ls` then `cat M/*/config.json`, as a user types it; returns
    {directory name: config}."""
    r = m.sh('cd "$M" && ls >/dev/null && for d in */; do printf "%s\\0" "${d%/}"; '
             'cat "$d/config.json"; printf "\\0"; done', check=True)
    parts = r.stdout.split("\0")[:-1]
    return {parts[i]: json.loads(parts[i + 1]) for i in range(0, len(parts), 2)}


def test_cold_cat_of_every_config_reuses_connections(emu, mount_factory):
    m = mount_factory("cache_timeout=30")
    configs = read_every_config(m)
    assert configs == {a["name"]: a["config"] for a in emu.state()}
    conns = emu.control("GET", "/_emu/conns")
    assert conns["requests"] >= AUDIENCES + 1  # the list, then each config
    # At most 8 connections (curl's limit per host, http_loop.c), however
    # many threads ask at once. Before: one easy handle per thread and curl
    # keeping 5 idle connections (its CURLOPT_MAXCONNECTS default) closed one
    # after nearly every request, 36 to 41 for 42 requests; with 32 kept, 9
    # (8 sweep threads and the reader waiting for its own config).
    assert conns["connections"] <= 8, conns


def test_sweep_workers_hold_the_deepest_config(emu, mount_factory):
    # The sweep's workers run on small stacks (sweep.h): a config nested
    # nearly as deep as cJSON allows (as deep as the emulator takes) is read
    # by them like any other.
    deep = {"topicIds": [1], "nested": json.loads("[" * 950 + "]" * 950)}
    auds = emu.state()
    for a in auds[5:15]:
        emu.control("PATCH", "/_emu/audiences/" + a["id"], {"config": deep})
    m = mount_factory("cache_timeout=30")
    configs = read_every_config(m)
    assert configs == {a["name"]: a["config"] for a in emu.state()}
