"""A small hostile DNS server on 127.0.0.1 for the resolver tests (threads, stdlib only).

The first label of a name picks the behaviour, by prefix:
  ok...     A 127.0.0.1 over UDP (and over TCP)
  quiet...  never answered, on UDP or TCP (a lame delegation)
  tcp...    over UDP an empty answer with the TC bit set, so the client retries over TCP;
            over TCP the answer, A 127.0.0.1
  anything else: NXDOMAIN
Over TCP the server answers the first query of a connection and then closes it, dropping any
other query the client sent on it (some load balancers and rate limiters do this).
"""
import heapq
import socket
import struct
import threading
import time


def _question(pkt):
    """(id, first label lower-cased, question section bytes, qtype) or None."""
    if len(pkt) < 17:
        return None
    qid = struct.unpack(">H", pkt[:2])[0]
    i, labels = 12, []
    while i < len(pkt) and pkt[i] != 0:
        n = pkt[i]
        labels.append(pkt[i + 1:i + 1 + n])
        i += 1 + n
    if i + 5 > len(pkt):
        return None
    qtype = struct.unpack(">H", pkt[i + 1:i + 3])[0]
    first = labels[0].decode("ascii", "replace").lower() if labels else ""
    return qid, first, pkt[12:i + 5], qtype


def _reply(qid, question, *, rcode=0, tc=False, a=None):
    flags = 0x8180 | rcode | (0x0200 if tc else 0)
    an = 1 if a else 0
    out = struct.pack(">HHHHHH", qid, flags, 1, an, 0, 0) + question
    if a:
        out += b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(a)
    return out


def answer(pkt, tcp):
    q = _question(pkt)
    if q is None:
        return None
    qid, first, question, qtype = q
    if first.startswith("quiet"):
        return None
    if first.startswith("ok") or (first.startswith("tcp") and tcp):
        if qtype == 1:
            return _reply(qid, question, a="127.0.0.1")
        return _reply(qid, question)  # NODATA for AAAA
    if first.startswith("tcp"):
        return _reply(qid, question, tc=True)
    return _reply(qid, question, rcode=3)


class HostileDNS:
    """udp_delay: seconds every UDP answer is held (answers still go out in parallel)."""

    def __init__(self, udp_delay=0.0):
        self.udp_delay = udp_delay
        self.later = []  # (due, seq, packet, peer), a heap
        self.later_cv = threading.Condition()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.udp.bind(("127.0.0.1", 0))
        self.port = self.udp.getsockname()[1]
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", self.port))
        self.tcp.listen(128)
        self.stop_flag = False
        self.udp_queries = self.tcp_conns = 0
        self.threads = [threading.Thread(target=self._udp_loop, daemon=True),
                        threading.Thread(target=self._udp_sender, daemon=True),
                        threading.Thread(target=self._tcp_loop, daemon=True)]
        for t in self.threads:
            t.start()

    def _udp_loop(self):
        while not self.stop_flag:
            try:
                pkt, peer = self.udp.recvfrom(4096)
            except OSError:
                return
            self.udp_queries += 1
            out = answer(pkt, False)
            if out is None:
                continue
            if self.udp_delay:
                with self.later_cv:
                    heapq.heappush(self.later, (time.monotonic() + self.udp_delay,
                                                self.udp_queries, out, peer))
                    self.later_cv.notify()
                continue
            try:
                self.udp.sendto(out, peer)
            except OSError:
                pass

    def _udp_sender(self):
        while not self.stop_flag:
            with self.later_cv:
                while not self.later and not self.stop_flag:
                    self.later_cv.wait(0.5)
                if self.stop_flag:
                    return
                due, _, out, peer = self.later[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self.later_cv.wait(wait)
                    continue
                heapq.heappop(self.later)
            try:
                self.udp.sendto(out, peer)
            except OSError:
                pass

    def _tcp_loop(self):
        while not self.stop_flag:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            self.tcp_conns += 1
            threading.Thread(target=self._tcp_one, args=(conn,), daemon=True).start()

    @staticmethod
    def _tcp_one(conn):
        with conn:
            conn.settimeout(5)
            buf = b""
            try:
                while len(buf) < 2 or len(buf) < 2 + struct.unpack(">H", buf[:2])[0]:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    buf += chunk
                n = struct.unpack(">H", buf[:2])[0]
                out = answer(buf[2:2 + n], True)
                if out is not None:
                    conn.sendall(struct.pack(">H", len(out)) + out)
            except OSError:
                pass
            # One answer per connection: whatever else was sent on it is dropped.

    def close(self):
        self.stop_flag = True
        with self.later_cv:
            self.later_cv.notify_all()
        for s in (self.udp, self.tcp):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
