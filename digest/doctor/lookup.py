"""DNS questions for the doctor, through dnspython, asked of the system's resolver or a named server.

Each answer is remembered for the run: the SPF walk asks for the same names
more than once, and one question should get one answer within one report.
A missing name and a name without records of the type asked are both "no
records" (an SPF "void look-up", RFC 7208 §4.6.4); a server that does not
answer, or answers SERVFAIL, is a :class:`DnsFailure`, never "no records".
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

from digest.errors import ConfigError, DigestError

TIMEOUT_SECONDS = 5.0


class DnsFailure(DigestError):
    """The DNS server gave no usable answer (timeout, SERVFAIL, refused)."""


@dataclass(frozen=True)
class Answer:
    """The records of one type at one name (text form), and whether the name exists at all."""

    records: tuple[str, ...]
    exists: bool = True

    def __bool__(self) -> bool:
        return bool(self.records)


def parse_nameserver(text: str) -> tuple[str, int]:
    """``HOST[:PORT]`` (``[ADDRESS]:PORT`` for IPv6) as an address and a port; a host name is looked up."""
    host, port = text.strip(), 53
    if host.startswith("["):
        inside, _, rest = host[1:].partition("]")
        host = inside
        if rest.startswith(":"):
            port = _port(rest[1:], text)
    elif host.count(":") == 1:
        host, _, port_text = host.partition(":")
        port = _port(port_text, text)
    if not host:
        raise ConfigError(f"--nameserver {text!r} names no server; write HOST or HOST:PORT")
    try:
        return str(ipaddress.ip_address(host)), port
    except ValueError:
        pass
    try:
        return str(socket.getaddrinfo(host, port, proto=socket.IPPROTO_UDP)[0][4][0]), port
    except OSError:
        raise ConfigError(f"--nameserver {text!r}: {host} cannot be looked up; give its address") from None


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ConfigError(f"--nameserver {whole!r}: the port must be a number from 1 to 65535")
    return int(text)


class Dns:
    """Asks one resolver; answers are kept for the life of the object."""

    def __init__(self, nameserver: str | None = None, *, timeout: float = TIMEOUT_SECONDS) -> None:
        if nameserver:
            address, port = parse_nameserver(nameserver)
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = [address]
            resolver.port = port
            self.server = f"{address}:{port}" if port != 53 else address
        else:
            try:
                resolver = dns.resolver.Resolver()
            except dns.resolver.NoResolverConfiguration:
                raise ConfigError(
                    "this machine has no DNS resolver configured; pass --nameserver HOST[:PORT]"
                ) from None
            self.server = "the system's resolver"
        resolver.lifetime = timeout
        resolver.timeout = min(timeout, 2.0)  # a lost UDP packet is asked again within the lifetime
        self.resolver = resolver
        self.asked = 0
        self._answers: dict[tuple[str, str], Answer] = {}

    def query(self, name: str, rdtype: str) -> Answer:
        """The records of ``rdtype`` at ``name``, following CNAMEs (except when CNAME is asked)."""
        key = (name.rstrip(".").lower(), rdtype)
        if key not in self._answers:
            self._answers[key] = self._ask(*key)
        return self._answers[key]

    def _ask(self, name: str, rdtype: str) -> Answer:
        self.asked += 1
        try:
            answer = self.resolver.resolve(name, rdtype, raise_on_no_answer=False, search=False)
        except dns.resolver.NXDOMAIN:
            return Answer((), exists=False)
        except dns.resolver.NoNameservers:
            raise DnsFailure(f"{self.server} could not answer for {name} ({rdtype}): SERVFAIL or refused") from None
        except (dns.exception.Timeout, dns.resolver.LifetimeTimeout):
            raise DnsFailure(f"{self.server} did not answer for {name} ({rdtype}) in time") from None
        except (dns.name.EmptyLabel, dns.name.LabelTooLong, dns.name.NameTooLong, dns.name.BadEscape):
            return Answer((), exists=False)
        wanted = dns.rdatatype.from_text(rdtype)
        records = []
        for rrset in answer.response.answer:
            if rrset.rdtype != wanted:
                continue
            for rdata in rrset:
                if wanted == dns.rdatatype.TXT:
                    records.append(b"".join(rdata.strings).decode("utf-8", "replace"))
                else:
                    records.append(rdata.to_text())
        return Answer(tuple(records))

    def txt(self, name: str) -> tuple[str, ...]:
        return self.query(name, "TXT").records

    def addresses(self, name: str) -> tuple[str, ...]:
        """The IPv4 and IPv6 addresses of ``name``."""
        return self.query(name, "A").records + self.query(name, "AAAA").records

    def mx(self, name: str) -> tuple[tuple[int, str], ...]:
        """(preference, host) pairs, best first; a null MX (RFC 7505) is (0, "")."""
        pairs = []
        for record in self.query(name, "MX").records:
            preference, _, host = record.partition(" ")
            pairs.append((int(preference), host.rstrip(".").lower()))
        return tuple(sorted(pairs))

    def cname(self, name: str) -> str:
        """Where ``name`` points (lower case, no trailing dot), or "" when it is not a CNAME."""
        records = self.query(name, "CNAME").records
        return records[0].rstrip(".").lower() if records else ""

    def exists(self, name: str) -> bool:
        """Whether ``name`` is in the DNS at all (as a name with any records, or above one)."""
        return self.query(name, "A").exists
