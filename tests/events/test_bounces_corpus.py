"""The corpus tier for bounce mailboxes: flufl.bounce's own real bounce messages and expectation table.

.ci/run downloads flufl.bounce's source distribution into $DIGEST_CORPUS_DIR
(never into the repository); the table is read from its tests/test_detectors.py
as data (ast.literal_eval), never imported or run. Judged here:

* no message makes the reader or the scan raise;
* no auto-reply, delay notice or 4.x.x status is ever a hard bounce;
* every address the table lists as a permanent failure is recognised as a
  failed recipient, and, once tied to a delivery of ours, acted on (hard or
  soft by its reason) for the person that delivery went to, never left
  "unmatched" or "not understood".

bench/bounce_agreement.py compares the same messages with sisimai; its
figures are in docs/bounces.md.
"""

from __future__ import annotations

import ast
import mailbox
from pathlib import Path

import pytest
import sqlalchemy as sa

from digest.events.bounce_parse import AUTOREPLY, DELAYED, read_message
from digest.events.bounces import scan_mailbox
from digest.events.mail_decode import parse_bytes
from digest.issues.mime import new_message_id
from digest.people.subscribers import add_subscriber
from digest.providers.smtp.verp import return_path
from digest.store import db
from tests.conftest import CORPUS_CACHE, need_corpus

pytestmark = pytest.mark.corpus


def flufl_tests() -> Path:
    found = sorted(CORPUS_CACHE.glob("flufl_bounce-*/tests"))
    return found[-1] if found else CORPUS_CACHE / "flufl_bounce-VERSION" / "tests"


def expectations() -> list[tuple[str, str, list[bytes], bool]]:
    """flufl.bounce's table: (detector, file, addresses, temporary?)."""
    source = need_corpus(flufl_tests() / "test_detectors.py", "flufl.bounce's sdist (its expectation table)")
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "DETECTORS" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise AssertionError("no DETECTORS table in flufl.bounce's tests")


def messages() -> list[Path]:
    folder = need_corpus(flufl_tests() / "data", "flufl.bounce's sdist (its test messages)")
    files = sorted(folder.glob("*.txt"))
    assert len(files) > 100  # the sdist has 117: fewer means the download broke
    return files


def test_every_message_is_read_and_nothing_temporary_is_hard() -> None:
    hard_but_temporary = []
    for path in messages():
        reading = read_message(parse_bytes(path.read_bytes()))  # a traceback fails the test
        for finding in reading.findings:
            if finding.verdict.hard and (
                reading.kind in (AUTOREPLY, DELAYED) or finding.action != "failed" or finding.status.startswith("4")
            ):
                hard_but_temporary.append(f"{path.name}: {finding.address} {finding.status}")
    assert hard_but_temporary == []


def test_the_table_permanent_addresses_are_recognised_and_its_temporary_ones_never_hard() -> None:
    folder = flufl_tests() / "data"
    missed, hardened = [], []
    for _detector, name, addresses, temporary in expectations():
        reading = read_message(parse_bytes((folder / name).read_bytes()))
        failed = {a.lower() for f in reading.findings if f.action == "failed" for a in f.addresses}
        hard = {a.lower() for f in reading.findings if f.verdict.hard for a in f.addresses}
        for address in (a.decode().lower() for a in addresses):
            if not temporary and address not in failed:
                missed.append(f"{name}: {address} ({reading.kind}, {reading.parser})")
            if temporary and address in hard:
                hardened.append(f"{name}: {address}")
    assert missed == []
    assert hardened == []


def test_scanning_the_corpus_as_our_own_bounces(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    """Each message delivered to the signed return path of a delivery to the first address its table names."""
    folder = flufl_tests() / "data"
    table = {name: (addresses, temporary) for _d, name, addresses, temporary in expectations() if addresses}
    people: dict[str, int] = {}
    for addresses, _temporary in table.values():
        key = addresses[0].decode().lower()
        if key not in people:
            people[key] = add_subscriber(engine, settings, key, {}, consent_source="test").id
    now = db.utcnow()
    deliveries: dict[str, int] = {}  # one delivery per message file, as if each were its own issue
    with engine.begin() as conn:
        for name, (addresses, _temporary) in table.items():
            key = addresses[0].decode().lower()
            send_id = conn.execute(
                sa.insert(db.sends).values(issue_id=name, state="done", provider="smtp", segments=[], created_at=now)
            ).inserted_primary_key[0]
            deliveries[name] = conn.execute(
                sa.insert(db.deliveries).values(
                    send_id=send_id,
                    issue_id=name,
                    subscriber_id=people[key],
                    email=key,
                    segment="all",
                    state="accepted",
                    provider_message_id=new_message_id(settings),
                    updated_at=now,
                )
            ).inserted_primary_key[0]
    box = mailbox.mbox(project / "corpus.mbox")
    for path in sorted(folder.glob("*.txt")):
        raw = path.read_bytes()
        if raw.startswith(b"From "):  # an mbox separator line kept in some of the files
            raw = raw.split(b"\n", 1)[1]
        if path.name in table:
            raw = f"Delivered-To: {return_path(settings, deliveries[path.name])}\n".encode() + raw
        box.add(raw)
    box.flush()
    report = scan_mailbox(engine, settings, project / "corpus.mbox")
    assert report.unreadable == []
    with engine.connect() as conn:
        events = list(conn.execute(sa.select(db.events)))
        statuses = dict(conn.execute(sa.select(db.subscribers.c.email_key, db.subscribers.c.status)).all())
    acted = {(e.delivery_id, e.type) for e in events}
    wrong = []
    for name, (addresses, temporary) in table.items():
        key = addresses[0].decode().lower()
        delivery = deliveries[name]
        if temporary:
            if (delivery, "bounced") in acted:
                wrong.append(f"{name}: a temporary failure made {key} bounced")
        elif not ((delivery, "bounced") in acted or (delivery, "blocked") in acted):
            wrong.append(f"{name}: the permanent failure of {key} was not acted on")
    assert wrong == [], "\n".join(wrong)
    # Forwarded addresses: the report's Final-Recipient is the forwarding target, Original-Recipient our reader.
    by_original = sorted(e.issue_id for e in events if e.matched_by.endswith("(by Original-Recipient)"))
    assert by_original == ["dsn_04.txt"]
    # Every status change came from an event that a signed return path tied to that very person.
    changed = {key for key, status in statuses.items() if status != "active"}
    assert changed <= {key for key in people}
