"""`digest doctor` against a DNS server on 127.0.0.1 serving zones written here, good and broken.

The project sends through an SMTP relay with its own DKIM key; the zone
publishes what a receiver looks up: DMARC, SPF (with an include and an a:),
the DKIM key, the bounce domain's MX. Each broken zone changes one thing, and
the doctor must name it and exit 1 (p=none is a warning: see docs/doctor.md).
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path

import pytest

from tests.conftest import SEGMENTS_YAML
from tests.fakes import dns as fake_dns

RELAY = "relay.safe.example.org"
RELAY_ADDRESS = "192.0.2.25"


def make_key(folder: Path, name: str) -> str:
    """A 2048-bit RSA key written as PEM to ``folder/name``; returns its public half as DKIM's p=."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (folder / name).write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(public).decode()


def good_zone(public_key: str) -> dict[str, list[tuple[str, str]]]:
    return {
        "_dmarc.safe.example.org": [("TXT", "v=DMARC1; p=quarantine; rua=mailto:dmarc@safe.example.org")],
        "safe.example.org": [
            ("TXT", "v=spf1 a:relay.safe.example.org include:_spf.mailhost.example.net -all"),
            ("TXT", "google-site-verification=not-an-spf-record"),
            ("MX", "10 mx.safe.example.org."),
            ("A", "192.0.2.80"),
        ],
        RELAY: [("A", RELAY_ADDRESS)],
        "mx.safe.example.org": [("A", "192.0.2.10")],
        "_spf.mailhost.example.net": [("TXT", "v=spf1 ip4:198.51.100.0/24 ~all")],
        "digest._domainkey.safe.example.org": [("TXT", f"v=DKIM1; k=rsa; p={public_key}")],
    }


@pytest.fixture
def smtp_project(project: Path, engine) -> Path:  # type: ignore[no-untyped-def]
    """The suite's project, sending through an SMTP relay with its own DKIM key, its database made."""
    (project / "subscribers").mkdir(exist_ok=True)
    (project / "subscribers" / "segments.yaml").write_text(SEGMENTS_YAML, encoding="utf-8")
    toml = project / "digest.toml"
    text = toml.read_text(encoding="utf-8").replace('provider = "outbox"\n', "")
    text = text.replace("[sending]\n", '[sending]\nprovider = "smtp"\n')
    text = text.replace("[email]\n", '[email]\nbounce_address = "bounces@safe.example.org"\n')
    text += f'\n[smtp]\nhost = "{RELAY}"\nport = 587\nsecurity = "starttls"\n'
    text += 'dkim_selector = "digest"\ndkim_private_key_file = "dkim.pem"\n'
    toml.write_text(text, encoding="utf-8")
    return project


@pytest.fixture
def public_key(smtp_project: Path) -> str:
    return make_key(smtp_project, "dkim.pem")


def doctor(invoke, zone, *args: str):  # type: ignore[no-untyped-def]
    with fake_dns.serving(zone) as served:
        return invoke("doctor", "--nameserver", served.address, *args)


def lines(output: str, status: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(status + " ")]


def test_a_zone_where_everything_is_right_says_so(invoke, public_key) -> None:  # type: ignore[no-untyped-def]
    result = doctor(invoke, good_zone(public_key))
    assert result.exit_code == 0, result.output
    assert lines(result.output, "error") == [] and lines(result.output, "warning") == [], result.output
    assert result.output.splitlines()[-1].startswith("Everything is ready to send: ")
    for expected in (
        "ok       DMARC record: _dmarc.safe.example.org: v=DMARC1; p=quarantine",
        "ok       DMARC policy: p=quarantine",
        "ok       SPF record: safe.example.org: v=spf1 a:relay.safe.example.org",
        "ok       SPF look-ups: 2 DNS look-ups through safe.example.org, _spf.mailhost.example.net",
        f"ok       SPF lets the provider send: safe.example.org's SPF passes the relay {RELAY} ({RELAY_ADDRESS})",
        "ok       DKIM key: digest._domainkey.safe.example.org matches the private key in use (2048 bits)",
        "ok       DKIM covers one-click: d=safe.example.org s=digest, h= includes both",
        "ok       SPF alignment: Return-Path ([email] bounce_address) safe.example.org aligns",
        "ok       DKIM alignment: DKIM d= safe.example.org aligns with From safe.example.org (relaxed)",
        "ok       bounce MX: safe.example.org: 10 mx.safe.example.org",
        "ok       one-click unsubscribe: List-Unsubscribe <https://news.safe.example.org/",
    ):
        assert any(line.startswith(expected) for line in result.output.splitlines()), (expected, result.output)


def test_no_dmarc_record_is_an_error(invoke, public_key) -> None:  # type: ignore[no-untyped-def]
    zone = good_zone(public_key)
    del zone["_dmarc.safe.example.org"]
    result = doctor(invoke, zone)
    assert result.exit_code == 1
    (line,) = lines(result.output, "error")
    assert line.startswith("error    DMARC record: no DMARC record at _dmarc.safe.example.org or _dmarc.example.org"), (
        result.output
    )
    assert "2 errors" not in result.output and result.output.splitlines()[-1].startswith("1 error, ")


def test_the_organizational_domains_record_covers_a_subdomain(invoke, public_key) -> None:  # type: ignore[no-untyped-def]
    zone = good_zone(public_key)
    del zone["_dmarc.safe.example.org"]
    zone["_dmarc.example.org"] = [("TXT", "v=DMARC1; p=reject; sp=quarantine; rua=mailto:dmarc@example.org")]
    result = doctor(invoke, zone)
    assert result.exit_code == 0, result.output
    assert (
        "ok       DMARC policy: sp=quarantine: mail failing DMARC as safe.example.org is put in spam" in result.output
    )


def test_p_none_is_a_warning_and_fails_only_with_strict(invoke, public_key) -> None:  # type: ignore[no-untyped-def]
    zone = good_zone(public_key)
    zone["_dmarc.safe.example.org"] = [("TXT", "v=DMARC1; p=none; rua=mailto:dmarc@safe.example.org")]
    result = doctor(invoke, zone)
    assert result.exit_code == 0, result.output
    (line,) = lines(result.output, "warning")
    assert line.startswith("warning  DMARC policy: p=none: receivers only report")
    assert result.output.splitlines()[-1].startswith("Ready to send, with 1 warning")
    assert doctor(invoke, zone, "--strict").exit_code == 1


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (
            "v=DMARC1; p=reject; pct=25; rua=mailto:dmarc@safe.example.org",
            "warning  DMARC policy: p=reject with pct=25",
        ),
        ("v=DMARC1; p=reject", "warning  DMARC reports: no rua=: nobody will see who sends as your domain"),
        (
            "v=DMARC1; p=reject; rua=mailto:d@reports.example.com",
            "warning  DMARC reports: reports to reports.example.com are dropped",
        ),
        ("v=DMARC1; p=reject; aspf=x; rua=mailto:dmarc@safe.example.org", "warning  DMARC record: aspf=x is neither"),
    ],
)
def test_dmarc_records_that_work_but_want_mending(invoke, public_key, record: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    zone = good_zone(public_key)
    zone["_dmarc.safe.example.org"] = [("TXT", record)]
    result = doctor(invoke, zone)
    assert result.exit_code == 0, result.output
    (line,) = lines(result.output, "warning")
    assert line.startswith(expected), result.output


def test_online_asks_the_unsubscribe_host_and_only_then(invoke, smtp_project, public_key) -> None:  # type: ignore[no-untyped-def]
    from tests.httpserve import serve

    with serve({"/": (200, "text/html", b"<p>digest</p>")}) as base:
        toml = smtp_project / "digest.toml"
        toml.write_text(toml.read_text(encoding="utf-8").replace("https://news.safe.example.org", base))
        online = doctor(invoke, good_zone(public_key), "--online")
        offline = doctor(invoke, good_zone(public_key))
    assert f"ok       unsubscribe host: {base}/ answers (200)" in online.output.splitlines()
    assert "unsubscribe host" not in offline.output


def spf_chain(count: int) -> dict[str, list[tuple[str, str]]]:
    """An SPF tree costing ``count`` look-ups, of every kind that costs one (RFC 7208 §4.6.4)."""
    zone: dict[str, list[tuple[str, str]]] = {
        # a, include: 2 here, then the include's own terms.
        "safe.example.org": [("TXT", "v=spf1 a:relay.safe.example.org include:_spf.one.example.net -all")],
        # mx, ptr, exists and the redirect: 4 more (6); ip4 and exp cost nothing.
        "_spf.one.example.net": [
            (
                "TXT",
                "v=spf1 ip4:198.51.100.0/24 mx:one.example.net ptr exists:ok.one.example.net "
                "exp=explain.one.example.net redirect=_spf.two.example.net",
            )
        ],
        "one.example.net": [("MX", "10 mx.one.example.net.")],
        "ok.one.example.net": [("A", "127.0.0.2")],
    }
    # The redirect's target: includes of records that cost nothing, one look-up each.
    rest = count - 6
    zone["_spf.two.example.net"] = [
        ("TXT", "v=spf1 " + " ".join(f"include:_spf{n}.two.example.net" for n in range(rest)) + " -all")
    ]
    for n in range(rest):
        zone[f"_spf{n}.two.example.net"] = [("TXT", f"v=spf1 ip4:203.0.113.{n}/32 -all")]
    return zone


def with_spf_chain(zone: dict[str, list[tuple[str, str]]], count: int) -> dict[str, list[tuple[str, str]]]:
    chain = spf_chain(count)
    zone["safe.example.org"][0] = chain.pop("safe.example.org")[0]
    zone.update(chain)
    return zone


def test_ten_spf_look_ups_pass_and_eleven_fail(invoke, public_key) -> None:  # type: ignore[no-untyped-def]
    zone = with_spf_chain(good_zone(public_key), 10)
    result = doctor(invoke, zone)
    assert "ok       SPF look-ups: 10 DNS look-ups through safe.example.org, _spf.one.example.net, " in result.output
    assert result.exit_code == 0, result.output

    zone = with_spf_chain(good_zone(public_key), 11)
    result = doctor(invoke, zone)
    assert result.exit_code == 1
    (line,) = lines(result.output, "error")
    assert line.startswith("error    SPF look-ups: safe.example.org needs 11 DNS look-ups through "), result.output
    assert "receivers stop at 10 and fail SPF (RFC 7208 §4.6.4)" in line


def test_a_dkim_key_that_does_not_match_is_an_error(invoke, smtp_project, public_key) -> None:  # type: ignore[no-untyped-def]
    other = make_key(smtp_project, "other.pem")
    zone = good_zone(public_key)
    zone["digest._domainkey.safe.example.org"] = [("TXT", f"v=DKIM1; k=rsa; p={other}")]
    result = doctor(invoke, zone)
    assert result.exit_code == 1
    (line,) = lines(result.output, "error")
    assert line == (
        "error    DKIM key: the key published at digest._domainkey.safe.example.org "
        "does not match the private key in dkim.pem"
    )


def test_a_missing_or_revoked_dkim_key_is_an_error(invoke, public_key) -> None:  # type: ignore[no-untyped-def]
    zone = good_zone(public_key)
    del zone["digest._domainkey.safe.example.org"]
    (line,) = lines(doctor(invoke, zone).output, "error")
    assert line == "error    DKIM key: no DKIM key is published at digest._domainkey.safe.example.org"
    zone["digest._domainkey.safe.example.org"] = [("TXT", "v=DKIM1; k=rsa; p=")]
    (line,) = lines(doctor(invoke, zone).output, "error")
    assert "is revoked (empty p=)" in line


def test_a_misaligned_bounce_domain_is_an_error(invoke, smtp_project, public_key) -> None:  # type: ignore[no-untyped-def]
    toml = smtp_project / "digest.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("bounces@safe.example.org", "bounces@safe-mail.example.net"),
        encoding="utf-8",
    )
    zone = good_zone(public_key)
    zone["safe-mail.example.net"] = [
        ("TXT", "v=spf1 a:relay.safe.example.org -all"),
        ("MX", "10 mx.safe.example.org."),
    ]
    result = doctor(invoke, zone)
    assert result.exit_code == 1
    (line,) = lines(result.output, "error")
    assert line == (
        "error    SPF alignment: Return-Path ([email] bounce_address) safe-mail.example.net does not align "
        "with From safe.example.org (relaxed): DMARC cannot pass through it"
    )


def test_strict_alignment_asks_for_the_from_domain_itself(invoke, smtp_project, public_key) -> None:  # type: ignore[no-untyped-def]
    toml = smtp_project / "digest.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("bounces@safe.example.org", "bounces@mail.safe.example.org"),
        encoding="utf-8",
    )
    zone = good_zone(public_key)
    zone["mail.safe.example.org"] = [("TXT", "v=spf1 a:relay.safe.example.org -all"), ("MX", "10 mx.safe.example.org.")]
    assert doctor(invoke, zone).exit_code == 0
    zone["_dmarc.safe.example.org"] = [("TXT", "v=DMARC1; p=reject; aspf=s; rua=mailto:dmarc@safe.example.org")]
    result = doctor(invoke, zone)
    (line,) = lines(result.output, "error")
    assert line.startswith("error    SPF alignment: Return-Path ([email] bounce_address) mail.safe.example.org")
    assert "(strict)" in line


def test_the_bounce_domain_needs_an_mx(invoke, public_key) -> None:  # type: ignore[no-untyped-def]
    zone = good_zone(public_key)
    zone["safe.example.org"] = [record for record in zone["safe.example.org"] if record[0] != "MX"]
    result = doctor(invoke, zone)
    (line,) = lines(result.output, "warning")
    assert line.startswith("warning  bounce MX: safe.example.org has no MX; bounces go to its A/AAAA address")
    zone["safe.example.org"].append(("MX", "0 ."))
    (line,) = lines(doctor(invoke, zone).output, "error")
    assert line.startswith("error    bounce MX: safe.example.org has a null MX (RFC 7505)")


def test_no_spf_record_and_a_relay_it_does_not_list(invoke, public_key) -> None:  # type: ignore[no-untyped-def]
    zone = good_zone(public_key)
    zone["safe.example.org"] = [record for record in zone["safe.example.org"] if "spf1" not in record[1]]
    (line,) = lines(doctor(invoke, zone).output, "error")
    assert line.startswith("error    SPF record: safe.example.org has no SPF record")
    zone = good_zone(public_key)
    zone[RELAY] = [("A", "192.0.2.99")]
    zone["safe.example.org"][0] = ("TXT", "v=spf1 ip4:192.0.2.25 -all")
    result = doctor(invoke, zone)
    (line,) = lines(result.output, "warning")
    assert line == (
        f"warning  SPF lets the provider send: safe.example.org's SPF does not pass the relay {RELAY} (192.0.2.99: fail)"
    )


def test_a_dns_server_that_does_not_answer_is_named(smtp_project, public_key) -> None:  # type: ignore[no-untyped-def]
    import socket

    from digest.config import load_settings
    from digest.doctor import run_doctor
    from digest.doctor.lookup import Dns

    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    address = f"127.0.0.1:{silent.getsockname()[1]}"
    try:
        report = run_doctor(load_settings(smtp_project / "digest.toml"), resolver=Dns(address, timeout=0.5))
    finally:
        silent.close()
    (check,) = report.errors
    assert check.name == "DNS" and check.found == f"{address} did not answer for _dmarc.safe.example.org (TXT) in time"


def test_a_record_too_big_for_udp_is_read_over_tcp(invoke, public_key) -> None:  # type: ignore[no-untyped-def]
    zone = good_zone(public_key)
    many = " ".join(f"ip4:198.51.100.{n}" for n in range(90))
    zone["safe.example.org"][0] = ("TXT", f"v=spf1 a:relay.safe.example.org {many} -all")
    with fake_dns.serving(zone) as served:
        result = invoke("doctor", "--nameserver", served.address)
        assert served.fake.tcp_queries >= 1
    assert result.exit_code == 0, result.output
    assert "ok       SPF record: safe.example.org: v=spf1 a:relay.safe.example.org ip4:198.51.100.0 " in result.output


# --- SendGrid ---------------------------------------------------------------------------


def sendgrid_zone() -> dict[str, list[tuple[str, str]]]:
    return {
        "_dmarc.safe.example.org": [("TXT", "v=DMARC1; p=reject; rua=mailto:dmarc@safe.example.org")],
        "safe.example.org": [("TXT", "v=spf1 include:sendgrid.net -all"), ("MX", "10 mx.safe.example.org.")],
        "sendgrid.net": [("TXT", "v=spf1 ip4:167.89.0.0/17 -all")],
        "em4821.safe.example.org": [("CNAME", "u1234567.wl042.sendgrid.net.")],
        "u1234567.wl042.sendgrid.net": [
            ("A", "167.89.1.1"),
            ("MX", "10 mx.sendgrid.net."),
            ("TXT", "v=spf1 ip4:167.89.0.0/17 -all"),
        ],
        "s1._domainkey.safe.example.org": [("CNAME", "s1.domainkey.u1234567.wl042.sendgrid.net.")],
        "s2._domainkey.safe.example.org": [("CNAME", "s2.domainkey.u1234567.wl042.sendgrid.net.")],
    }


@pytest.fixture
def sendgrid_project(project: Path, engine) -> Path:  # type: ignore[no-untyped-def]
    (project / "subscribers").mkdir(exist_ok=True)
    (project / "subscribers" / "segments.yaml").write_text(SEGMENTS_YAML, encoding="utf-8")
    with (project / ".env").open("a", encoding="utf-8") as env:
        env.write("SENDGRID_API_KEY=SG.not-a-real-key\n")
    toml = project / "digest.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("[sending]\n", '[sending]\nprovider = "sendgrid"\n')
        + '\n[sendgrid]\nreturn_path_domain = "em4821.safe.example.org"\n',
        encoding="utf-8",
    )
    return project


def test_sendgrid_domain_authentication_is_recognised(invoke, sendgrid_project) -> None:  # type: ignore[no-untyped-def]
    result = doctor(invoke, sendgrid_zone())
    assert result.exit_code == 0, result.output
    assert lines(result.output, "error") == [] and lines(result.output, "warning") == [], result.output
    for expected in (
        "ok       SPF lets the provider send: em4821.safe.example.org's SPF includes sendgrid.net",
        "ok       DKIM key: SendGrid signs for safe.example.org: s1._domainkey.safe.example.org → "
        "s1.domainkey.u1234567.wl042.sendgrid.net",
        "ok       Return-Path: bounces+…@em4821.safe.example.org ([sendgrid] return_path_domain) → "
        "u1234567.wl042.sendgrid.net: SendGrid takes the bounces",
        "ok       SPF alignment: Return-Path ([sendgrid] return_path_domain) em4821.safe.example.org aligns",
        "skipped  DKIM covers one-click: SendGrid signs each message itself",
    ):
        assert any(line.startswith(expected) for line in result.output.splitlines()), (expected, result.output)


def test_sendgrid_without_its_selectors_or_include_is_an_error(invoke, sendgrid_project) -> None:  # type: ignore[no-untyped-def]
    zone = sendgrid_zone()
    del zone["s2._domainkey.safe.example.org"]
    (line,) = lines(doctor(invoke, zone).output, "error")
    assert line == (
        "error    DKIM key: SendGrid's DKIM selectors do not point at SendGrid: s2._domainkey.safe.example.org → nothing"
    )
    zone = sendgrid_zone()
    for name in [name for name in zone if "_domainkey" in name]:
        del zone[name]
    (line,) = lines(doctor(invoke, zone).output, "error")
    assert line.startswith("error    DKIM key: no s1/s2._domainkey CNAMEs at safe.example.org or example.org")
    # Without automated security the return-path subdomain carries its own SPF, which must include SendGrid's.
    zone = sendgrid_zone()
    zone["em4821.safe.example.org"] = [("TXT", "v=spf1 ip4:192.0.2.1 -all"), ("MX", "10 mx.sendgrid.net.")]
    (line,) = lines(doctor(invoke, zone).output, "error")
    assert line.startswith(
        "error    SPF lets the provider send: em4821.safe.example.org's SPF does not include sendgrid.net"
    )


def test_sendgrid_without_its_return_path_domain_is_a_warning(invoke, sendgrid_project) -> None:  # type: ignore[no-untyped-def]
    toml = sendgrid_project / "digest.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('return_path_domain = "em4821.safe.example.org"', ""))
    result = doctor(invoke, sendgrid_zone())
    assert result.exit_code == 0, result.output
    (line,) = lines(result.output, "warning")
    assert line.startswith("warning  SPF alignment: the Return-Path's domain is not known")
    # The From domain's own SPF is checked instead, for SendGrid's include.
    assert "ok       SPF lets the provider send: safe.example.org's SPF includes sendgrid.net" in result.output


def test_the_zone_helpers_do_not_leak_between_tests() -> None:
    zone = good_zone("x")
    copied = copy.deepcopy(zone)
    del copied["_dmarc.safe.example.org"]
    assert "_dmarc.safe.example.org" in good_zone("x")
