"""SPF (RFC 7208): a domain's record read, its DNS look-ups counted, and one address checked against it.

The count follows §4.6.4: ``include``, ``a``, ``mx``, ``ptr`` and ``exists``
and the ``redirect`` modifier each cost a look-up, through every nested
``include`` and ``redirect``, and a receiver that needs more than 10 returns
"permerror" (the record then authorises nobody). ``ip4``, ``ip6``, ``all``
and ``exp`` cost none. Look-ups that find nothing ("void") are limited to 2.
The count is of every term a receiver may reach, since mail from an address
the record does not list makes it evaluate them all.

Terms built from macros (``%{i}``) cannot be followed before a message
exists: they are counted and named, not followed.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from digest.doctor.lookup import Dns

LOOKUP_LIMIT = 10
VOID_LIMIT = 2
MX_ADDRESS_LIMIT = 10
LOOKUP_TERMS = frozenset({"include", "a", "mx", "ptr", "exists"})
MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
_MODIFIER = re.compile(r"^([a-z][a-z0-9_.-]*)=(.*)$", re.IGNORECASE)
_MECHANISM = re.compile(r"^([+\-~?]?)([a-z0-9]+)(?::([^/]*))?(?:/(\d+))?(?://(\d+))?$", re.IGNORECASE)
QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}


class SpfError(Exception):
    """A record that makes a receiver return "permerror" (the reason is the message)."""


@dataclass(frozen=True)
class Term:
    """One mechanism of a record: ``qualifier``, ``name``, its domain (or network) and prefix lengths."""

    qualifier: str
    name: str
    target: str = ""
    cidr4: int | None = None
    cidr6: int | None = None

    @property
    def has_macro(self) -> bool:
        return "%" in self.target


@dataclass(frozen=True)
class Record:
    """A parsed SPF record."""

    text: str
    terms: tuple[Term, ...]
    redirect: str = ""


@dataclass
class Walk:
    """What following a record through its includes and redirects found."""

    domain: str
    record: Record | None = None
    lookups: int = 0
    void_lookups: int = 0
    domains: list[str] = field(default_factory=list)  # every domain whose record was read, in order
    macros: list[str] = field(default_factory=list)  # terms not followed because they hold macros
    problem: str = ""  # why a receiver would return permerror ("" when none)


def select_record(texts: tuple[str, ...], domain: str) -> str | None:
    """The one SPF record among a name's TXT records (§4.5), None when there is none."""
    found = [text for text in texts if re.match(r"^v=spf1(\s|$)", text, re.IGNORECASE)]
    if len(found) > 1:
        raise SpfError(f"{domain} publishes {len(found)} SPF records; there must be exactly one (RFC 7208 §4.5)")
    return found[0] if found else None


def parse(text: str) -> Record:
    """Parse an SPF record's text; raises :class:`SpfError` naming the first term a receiver would refuse."""
    words = text.split()
    if not words or words[0].lower() != "v=spf1":
        raise SpfError(f"{text!r} does not start with v=spf1")
    terms: list[Term] = []
    redirect = ""
    seen_modifiers: set[str] = set()
    for word in words[1:]:
        modifier = _MODIFIER.match(word)
        if modifier:
            name, value = modifier.group(1).lower(), modifier.group(2)
            if name in ("redirect", "exp"):
                if name in seen_modifiers:
                    raise SpfError(f"{name}= appears twice (RFC 7208 §6)")
                seen_modifiers.add(name)
                if not value:
                    raise SpfError(f"{word!r} names no domain")
                if name == "redirect":
                    redirect = value.lower()
            continue  # unknown modifiers are ignored (§6)
        terms.append(_mechanism(word))
    return Record(text, tuple(terms), redirect)


def _mechanism(word: str) -> Term:
    match = _MECHANISM.match(word)
    if not match or match.group(2).lower() not in MECHANISMS:
        raise SpfError(f"{word!r} is not an SPF mechanism (RFC 7208 §5)")
    qualifier, name, target, cidr4, cidr6 = match.groups()
    name = name.lower()
    if name in ("include", "exists") and not target:
        raise SpfError(f"{word!r} needs a domain ({name}:example.org)")
    if name in ("ip4", "ip6"):
        try:
            ipaddress.ip_network(f"{target}/{cidr4}" if cidr4 else target, strict=False)
        except ValueError:
            raise SpfError(f"{word!r}: {target!r} is not an IP{name[-1]} network") from None
        if (name == "ip4") != (":" not in target):
            raise SpfError(f"{word!r}: not an IP{name[-1]} address")
    if name == "all" and (target or cidr4 or cidr6):
        raise SpfError(f"{word!r}: all takes no argument")
    if cidr4 is not None and int(cidr4) > (128 if name == "ip6" else 32):
        raise SpfError(f"{word!r}: prefix length {cidr4} is too long")
    return Term(
        QUALIFIERS[qualifier or "+"],
        name,
        (target or "").lower(),
        int(cidr4) if cidr4 else None,
        int(cidr6) if cidr6 else None,
    )


def walk(resolver: Dns, domain: str) -> Walk:
    """Read ``domain``'s record and every record it reaches, counting look-ups (§4.6.4)."""
    result = Walk(domain)
    try:
        text = select_record(resolver.txt(domain), domain)
        if text is None:
            return result
        result.record = parse(text)
        _follow(resolver, domain, result.record, result, depth=0)
    except SpfError as exc:
        result.problem = str(exc)
    return result


def _follow(resolver: Dns, domain: str, record: Record, result: Walk, depth: int) -> None:
    result.domains.append(domain)
    if depth > LOOKUP_LIMIT:
        raise SpfError(f"the includes loop back on themselves at {domain}")
    for term in record.terms:
        if term.name not in LOOKUP_TERMS:
            continue
        result.lookups += 1
        if term.has_macro:
            result.macros.append(f"{term.name}:{term.target}")
            continue
        target = term.target or domain
        if term.name == "include":
            _follow_to(resolver, target, result, depth, f"include:{target}")
        elif term.name == "a":
            _count_void(result, bool(resolver.addresses(target)))
        elif term.name == "mx":
            hosts = resolver.mx(target)
            _count_void(result, bool(hosts))
            if len(hosts) > MX_ADDRESS_LIMIT:
                raise SpfError(f"mx:{target} has {len(hosts)} MX hosts; a receiver looks at no more than 10")
    if record.redirect and not any(term.name == "all" for term in record.terms):
        result.lookups += 1  # a redirect is ignored when the record has "all" (§6.1)
        if "%" in record.redirect:
            result.macros.append(f"redirect={record.redirect}")
        else:
            _follow_to(resolver, record.redirect, result, depth, f"redirect={record.redirect}")


def _follow_to(resolver: Dns, target: str, result: Walk, depth: int, how: str) -> None:
    text = select_record(resolver.txt(target), target)
    if text is None:
        raise SpfError(f"{how}: {target} has no SPF record, so receivers return permerror (RFC 7208 §5.2)")
    try:
        nested = parse(text)
    except SpfError as exc:
        raise SpfError(f"{how}: {exc}") from None
    _follow(resolver, target, nested, result, depth + 1)


def _count_void(result: Walk, found: bool) -> None:
    if not found:
        result.void_lookups += 1


def evaluate(resolver: Dns, domain: str, address: str, *, depth: int = 0) -> str:
    """check_host() for ``address`` (§4): pass, fail, softfail, neutral, none or permerror.

    Macros and ``ptr`` are not evaluated (they never match here): enough to
    tell whether a relay's own address is listed.
    """
    ip = ipaddress.ip_address(address)
    try:
        text = select_record(resolver.txt(domain), domain)
        if text is None:
            return "none"
        record = parse(text)
    except SpfError:
        return "permerror"
    if depth > LOOKUP_LIMIT:
        return "permerror"
    for term in record.terms:
        if _matches(resolver, term, domain, ip, depth):
            return term.qualifier
    if record.redirect and "%" not in record.redirect:
        result = evaluate(resolver, record.redirect, address, depth=depth + 1)
        return "permerror" if result == "none" else result
    return "neutral"


def _matches(
    resolver: Dns, term: Term, domain: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, depth: int
) -> bool:
    if term.has_macro or term.name == "ptr":
        return False
    target = term.target or domain
    if term.name == "all":
        return True
    if term.name in ("ip4", "ip6"):
        prefix = term.cidr4
        network = ipaddress.ip_network(f"{target}/{prefix}" if prefix is not None else target, strict=False)
        return ip.version == network.version and ip in network
    if term.name == "include":
        return evaluate(resolver, target, str(ip), depth=depth + 1) == "pass"
    if term.name == "exists":
        return bool(resolver.query(target, "A"))
    hosts = [target] if term.name == "a" else [host for _, host in resolver.mx(target) if host]
    prefix = term.cidr4 if ip.version == 4 else term.cidr6
    for host in hosts:
        for found in resolver.addresses(host):
            network = ipaddress.ip_network(f"{found}/{prefix}" if prefix is not None else found, strict=False)
            if ip.version == network.version and ip in network:
                return True
    return False
