"""Which network addresses digest may fetch from: public ones, and those the organisation allows.

A feed address is typed by an editor or a colleague, and a feed server can
redirect anywhere, so a fetch must not become a way into the organisation's
own network (the studio's "import from a feed address" would otherwise show
whatever an internal service answers). Every address a host name resolves to
is judged here before anything connects to it: loopback, private, link-local,
shared (carrier NAT), multicast, reserved and unspecified addresses are
internal, for IPv4 and IPv6 alike, and an IPv6 address that carries an IPv4
one (IPv4-mapped ``::ffff:a.b.c.d``, 6to4 ``2002::/16``, NAT64
``64:ff9b::/96``) is judged by the IPv4 address inside it.

``[sources] allow_hosts`` in digest.toml lets an organisation fetch its own
intranet feeds: host names (exactly, or ``*.example.org`` for the names under
it) and addresses or networks (``10.20.0.0/16``, ``fd00:1::/48``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from digest.errors import ConfigError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052's well-known prefix: the last 32 bits are IPv4
_SITE_LOCAL = ipaddress.IPv6Network("fec0::/10")  # deprecated, but still routed inside some networks
_HOST_NAME = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64), or None."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def internal_kind(address: IPAddress) -> str | None:
    """What makes ``address`` internal ("loopback", "private"…), or None for a public address."""
    inner = embedded_ipv4(address)
    if inner is not None:
        return internal_kind(inner)
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("site-local", isinstance(address, ipaddress.IPv6Address) and address in _SITE_LOCAL),
        ("private", address.is_private),
    )
    for kind, applies in checks:
        if applies:
            return kind
    # What is left and still not global: shared address space (100.64.0.0/10, carrier NAT) and the like.
    return None if address.is_global else "non-public"


@dataclass(frozen=True)
class AllowList:
    """Host names and networks the organisation lets digest fetch from although they are internal."""

    hosts: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()  # from "*.example.org": every name under example.org
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str], where: str = "allow_hosts") -> AllowList:
        """Read ``allow_hosts`` entries; a ConfigError at ``where`` names one that is neither a name nor a network."""
        hosts: set[str] = set()
        domains: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in entries:
            text = entry.strip().lower().rstrip(".")
            try:
                networks.append(ipaddress.ip_network(text.replace("[", "").replace("]", ""), strict=False))
                continue
            except ValueError:
                pass
            if not _HOST_NAME.match(text):
                raise ConfigError(
                    f"{where}: {entry!r} is neither a host name (intranet.example.org, *.example.org) "
                    "nor an address or network (10.20.0.0/16)"
                )
            if text.startswith("*."):
                domains.add(text[2:])
            else:
                hosts.add(text)
        return cls(frozenset(hosts), frozenset(domains), tuple(networks))

    def permits(self, host: str, address: IPAddress) -> bool:
        """Whether ``host`` (as written in the URL), resolved to ``address``, is allowed although internal."""
        name = host.lower().rstrip(".")
        if name in self.hosts or any(name.endswith("." + domain) for domain in self.domains):
            return True
        candidates = [address]
        inner = embedded_ipv4(address)
        if inner is not None:
            candidates.append(inner)
        return any(candidate in network for candidate in candidates for network in self.networks)

    def __bool__(self) -> bool:
        return bool(self.hosts or self.domains or self.networks)
