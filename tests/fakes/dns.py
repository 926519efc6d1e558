"""A DNS server on 127.0.0.1 that knows a few mail domains: the internet's DNS is out of reach here.

It answers a domain's MX query from ``mail_hosts`` and says every other name
does not exist (NXDOMAIN), over UDP, as a resolver would hear it.
"""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import dns.message
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset


class _Answer(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        data, sock = self.request
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        question = query.question[0]
        host = self.server.mail_hosts.get(question.name.to_text().rstrip(".").lower())
        if host is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.MX:
            response.answer.append(dns.rrset.from_text(question.name, 300, "IN", "MX", f"10 {host}."))
        sock.sendto(response.to_wire(), self.client_address)


class _Server(socketserver.ThreadingUDPServer):
    daemon_threads = True
    mail_hosts: dict[str, str]


@contextmanager
def serving(mail_hosts: dict[str, str]) -> Iterator[dns.resolver.Resolver]:
    """Start the server; yields a resolver that asks it and nothing else."""
    server = _Server(("127.0.0.1", 0), _Answer)
    server.mail_hosts = mail_hosts
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = server.server_address[1]
    try:
        yield resolver
    finally:
        server.shutdown()
        server.server_close()
