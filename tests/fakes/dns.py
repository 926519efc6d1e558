"""A DNS server on 127.0.0.1 serving zones written in the tests: the internet's DNS is out of reach here.

It answers as a recursive resolver would to the names it knows: the records
of the type asked, a CNAME followed to its target's records, "no data" for a
name that exists without that type (or that only has names below it), and
NXDOMAIN for any other name. Over UDP, an answer too big for the client's
buffer (512 bytes, or what EDNS offers) comes back truncated, and the client
asks again over TCP, which the server also speaks.

A zone is ``{name: [(type, value), …]}``; TXT values are plain text (split
into 255-byte strings here), others are in zone-file form
(``("MX", "10 mx.example.org.")``).
"""

from __future__ import annotations

import socketserver
import struct
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.rrset

Zone = Mapping[str, Sequence[tuple[str, str]]]
UDP_LIMIT = 512
MAX_CNAME_CHAIN = 8


def txt_rdata(value: str) -> str:
    """A TXT value in zone-file form: quoted strings of at most 255 bytes (RFC 1035 §3.3.14)."""
    raw = value.encode("utf-8")
    chunks = [raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""]
    return " ".join('"' + chunk.decode("utf-8").replace("\\", "\\\\").replace('"', '\\"') + '"' for chunk in chunks)


@dataclass
class FakeDns:
    """The zone served and the questions asked, as (name, type)."""

    zone: dict[str, list[tuple[str, str]]]
    asked: list[tuple[str, str]] = field(default_factory=list)
    tcp_queries: int = 0

    def respond(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.asked.append((name, rdtype))
        for _ in range(MAX_CNAME_CHAIN):
            records = self.zone.get(name)
            if records is None:
                if not response.answer and not any(known.endswith("." + name) for known in self.zone):
                    response.set_rcode(dns.rcode.NXDOMAIN)
                return response
            wanted = [value for kind, value in records if kind == rdtype]
            if wanted:
                response.answer.append(_rrset(name, rdtype, wanted))
                return response
            aliases = [value for kind, value in records if kind == "CNAME"]
            if not aliases or rdtype == "CNAME":
                return response
            response.answer.append(_rrset(name, "CNAME", aliases[:1]))
            name = aliases[0].rstrip(".").lower()
        return response


def _rrset(name: str, rdtype: str, values: list[str]) -> dns.rrset.RRset:
    texts = [txt_rdata(value) if rdtype == "TXT" else value for value in values]
    rdatas = [dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), text) for text in texts]
    return dns.rrset.from_rdata_list(dns.name.from_text(name), 300, rdatas)


class _Udp(socketserver.BaseRequestHandler):
    server: _UdpServer

    def handle(self) -> None:
        data, sock = self.request
        query = dns.message.from_wire(data)
        response = self.server.fake.respond(query)
        limit = max(UDP_LIMIT, query.payload if query.edns >= 0 else UDP_LIMIT)
        wire = response.to_wire()
        if len(wire) > limit:
            truncated = dns.message.make_response(query)
            truncated.flags |= dns.flags.TC
            wire = truncated.to_wire()
        sock.sendto(wire, self.client_address)


class _Tcp(socketserver.BaseRequestHandler):
    server: _TcpServer

    def handle(self) -> None:
        while True:
            header = self.request.recv(2)
            if len(header) < 2:
                return
            (length,) = struct.unpack("!H", header)
            data = b""
            while len(data) < length:
                chunk = self.request.recv(length - len(data))
                if not chunk:
                    return
                data += chunk
            self.server.fake.tcp_queries += 1
            wire = self.server.fake.respond(dns.message.from_wire(data)).to_wire()
            self.request.sendall(struct.pack("!H", len(wire)) + wire)


class _UdpServer(socketserver.ThreadingUDPServer):
    daemon_threads = True
    fake: FakeDns


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeDns


@dataclass
class Served:
    """A running server: its address (``127.0.0.1:PORT``, as --nameserver takes it) and a resolver asking it."""

    fake: FakeDns
    port: int
    resolver: dns.resolver.Resolver

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def mail_domains(mail_hosts: Mapping[str, str]) -> dict[str, list[tuple[str, str]]]:
    """A zone where each domain has one MX host."""
    return {domain: [("MX", f"10 {host}.")] for domain, host in mail_hosts.items()}


def _bind_both() -> tuple[_UdpServer, _TcpServer]:
    """A UDP and a TCP server on the same free port (a port free for UDP may be taken for TCP)."""
    for _ in range(20):
        udp = _UdpServer(("127.0.0.1", 0), _Udp)
        try:
            return udp, _TcpServer(("127.0.0.1", udp.server_address[1]), _Tcp)
        except OSError:
            udp.server_close()
    raise OSError("no port free for both UDP and TCP on 127.0.0.1")


@contextmanager
def serving(zone: Zone) -> Iterator[Served]:
    """Serve ``zone`` over UDP and TCP on one port of 127.0.0.1 until the block ends."""
    fake = FakeDns({name.rstrip(".").lower(): list(records) for name, records in zone.items()})
    udp, tcp = _bind_both()
    port = udp.server_address[1]
    udp.fake = tcp.fake = fake
    # A short poll, so that stopping at the end of each test takes milliseconds, not half a second.
    threads = [threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True) for server in (udp, tcp)]
    for thread in threads:
        thread.start()
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port
    try:
        yield Served(fake, port, resolver)
    finally:
        for server in (udp, tcp):
            server.shutdown()
            server.server_close()
