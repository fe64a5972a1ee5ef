#!/usr/bin/python3
# tests/bench/netlink.py - a TCP relay that behaves like a network link with a
# given round-trip time, for the benchmark's network section (tests/bench/run
# --net). Why it exists: the emulator answers over loopback, where opening a
# connection costs nothing, so a client opening one connection per request
# looks as fast as one reusing a single connection. The real API is HTTPS
# across the internet, where every new connection costs a round trip for TCP
# and more for TLS before its request's own. Between a client and a server
# (emulator, or nghttpx in front of it) this relay makes those costs real:
#
#  - every byte, in each direction, is delivered RTT/2 after the relay read it
#    (a delay line that keeps the order), so a request and its answer cost one
#    RTT, and a TLS handshake passing through costs its real round trips;
#  - a new connection forwards nothing for one RTT after it was accepted (the
#    TCP handshake the client did not pay on loopback);
#  - it counts the connections it accepted (total, open now, most open at
#    once) and the bytes each way, for the benchmark to print.
#
# Bandwidth and loss are not modelled. Python standard library only (asyncio);
# TCP_NODELAY on both sides, so that no 40 ms Nagle/delayed-ACK stall is added
# to a reused connection's answers.
#
# Usage: netlink.py --rtt-ms 50 --upstream 127.0.0.1:Q [--port P] [--port-file F]
# The relay listens on 127.0.0.1:P (0: any free port). The control port
# (also 127.0.0.1) answers plain HTTP: GET /stats -> the counters as JSON;
# POST /reset -> zeroes them (open connections stay open and counted as open).
# --port-file gets {"port": P, "control": C} once both listen.
"""A TCP relay modelling a link with a round-trip time (see the top of the file)."""

import argparse
import asyncio
import collections
import json
import os
import signal
import socket
import sys

CHUNK = 65536
QUEUE_MAX = 4 << 20  # bytes held in one direction's delay line before reading pauses


class Stats:
    def __init__(self):
        self.open = 0
        self.reset()

    def reset(self):
        self.connections = 0  # accepted since the last reset
        self.max_open = self.open  # most open at once since the last reset
        self.upstream_failed = 0
        self.bytes_up = 0  # client -> server
        self.bytes_down = 0  # server -> client

    def as_dict(self):
        return {"connections": self.connections, "open": self.open, "max_open": self.max_open,
                "upstream_failed": self.upstream_failed, "bytes_up": self.bytes_up,
                "bytes_down": self.bytes_down}


def nodelay(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class DelayLine:
    """One direction of a connection: what was read from src reaches dst half a
    round trip later (and not before `opens`, the end of the TCP handshake)."""

    def __init__(self, loop, half_rtt, opens, count):
        self.loop = loop
        self.half = half_rtt
        self.opens = opens
        self.count = count  # called with the number of bytes delivered
        self.queue = collections.deque()  # (deliver at, bytes or None for EOF)
        self.queued = 0
        self.more = asyncio.Event()
        self.room = asyncio.Event()
        self.room.set()

    async def pump_in(self, reader):
        try:
            while True:
                data = await reader.read(CHUNK)
                at = max(self.loop.time(), self.opens) + self.half
                self.queue.append((at, data or None))
                self.more.set()
                if not data:
                    return
                self.queued += len(data)
                if self.queued > QUEUE_MAX:
                    self.room.clear()
                    await self.room.wait()
        except (ConnectionError, OSError):
            self.queue.append((self.loop.time(), None))
            self.more.set()

    async def pump_out(self, writer):
        try:
            while True:
                while not self.queue:
                    self.more.clear()
                    await self.more.wait()
                at, data = self.queue[0]
                wait = at - self.loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                # Everything due by now goes in one write.
                parts = []
                eof = False
                now = self.loop.time()
                while self.queue and self.queue[0][0] <= now:
                    _, d = self.queue.popleft()
                    if d is None:
                        eof = True
                        break
                    parts.append(d)
                if parts:
                    blob = b"".join(parts)
                    writer.write(blob)
                    self.queued -= len(blob)
                    self.count(len(blob))
                    if self.queued <= QUEUE_MAX:
                        self.room.set()
                    await writer.drain()
                if eof:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
        except (ConnectionError, OSError):
            return


class Relay:
    def __init__(self, rtt_ms, upstream):
        self.rtt = rtt_ms / 1000.0
        self.up_host, self.up_port = upstream
        self.stats = Stats()
        # The connections' handler tasks. asyncio's stream protocol drops its
        # reference to a handler once its client's connection is lost, and the
        # loop holds tasks weakly: without this set, a handler still waiting for
        # the server's side could be garbage-collected mid-flight.
        self.live = set()

    async def handle(self, c_reader, c_writer):
        loop = asyncio.get_running_loop()
        accepted = loop.time()
        me = asyncio.current_task()
        self.live.add(me)
        st = self.stats
        st.connections += 1
        st.open += 1
        st.max_open = max(st.max_open, st.open)
        nodelay(c_writer)
        s_writer = None
        tasks = []
        try:
            try:
                s_reader, s_writer = await asyncio.open_connection(self.up_host, self.up_port)
            except OSError:
                st.upstream_failed += 1
                return
            nodelay(s_writer)

            def up(n):
                st.bytes_up += n

            def down(n):
                st.bytes_down += n

            half = self.rtt / 2
            to_server = DelayLine(loop, half, accepted + self.rtt, up)
            to_client = DelayLine(loop, half, accepted + self.rtt, down)
            tasks = [asyncio.ensure_future(t) for t in (
                to_server.pump_in(c_reader), to_server.pump_out(s_writer),
                to_client.pump_in(s_reader), to_client.pump_out(c_writer))]
            # Done when both directions delivered their EOF, or one side failed.
            await asyncio.gather(tasks[1], tasks[3])
        finally:
            for t in tasks:
                t.cancel()
            if tasks:  # let them end here, not be destroyed pending when the loop closes
                await asyncio.gather(*tasks, return_exceptions=True)
            st.open -= 1
            self.live.discard(me)
            for w in (c_writer, s_writer):
                if w is not None:
                    w.close()

    async def control(self, reader, writer):
        try:
            line = (await reader.readline()).decode("latin-1").split()
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            if len(line) >= 2 and line[0] == "POST" and line[1] == "/reset":
                self.stats.reset()
            body = json.dumps(dict(self.stats.as_dict(), rtt_ms=self.rtt * 1000)).encode()
            writer.write(b"HTTP/1.0 200 OK\r\ncontent-type: application/json\r\n"
                         b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body))
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


def hostport(s):
    host, _, port = s.rpartition(":")
    return host or "127.0.0.1", int(port)


async def serve(args):
    relay = Relay(args.rtt_ms, hostport(args.upstream))
    srv = await asyncio.start_server(relay.handle, "127.0.0.1", args.port, backlog=1024)
    ctl = await asyncio.start_server(relay.control, "127.0.0.1", args.control_port)
    port = srv.sockets[0].getsockname()[1]
    cport = ctl.sockets[0].getsockname()[1]
    if args.port_file:
        tmp = f"{args.port_file}.tmp.{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump({"port": port, "control": cport}, f)
        os.replace(tmp, args.port_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    await stop.wait()
    srv.close()
    ctl.close()
    # Connections still open end now: their handlers' clean-up runs before the loop closes.
    me = asyncio.current_task()
    rest = [t for t in asyncio.all_tasks() if t is not me]
    for t in rest:
        t.cancel()
    await asyncio.gather(*rest, return_exceptions=True)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rtt-ms", type=float, required=True, help="the link's round-trip time")
    p.add_argument("--upstream", required=True, help="HOST:PORT to forward to")
    p.add_argument("--port", type=int, default=0, help="listen port (default any free one)")
    p.add_argument("--control-port", type=int, default=0, help="stats port (default any)")
    p.add_argument("--port-file", help='write {"port": P, "control": C} here once listening')
    args = p.parse_args()
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
