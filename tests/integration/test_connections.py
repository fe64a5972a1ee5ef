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
    # No more connections than requests in flight at once (8 sweep threads
    # and the reader waiting for its own config; the emulator sees a request
    # end a moment before curl puts its connection back, so its own in-flight
    # count can be one less): curl kept 5 idle connections (its
    # CURLOPT_MAXCONNECTS default) and closed one after nearly every request,
    # 36 to 41 for 42 requests.
    assert conns["connections"] <= 9, conns
