"""Other tools' exports: who each file says has left, read from the one table in digest/people/csvimport/tools.py.

The files in tests/data/exports are invented people in the column layouts
each tool writes (tests/data/exports/SOURCES.md says where each was learned).
A person a file marks as gone (unsubscribed, bounced, complained, blocklisted,
disabled, cancelled, deleted) is never made active; a person who never
confirmed is not imported at all.
"""

from __future__ import annotations

import contextlib
import csv
import io
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from digest.errors import DigestError, InputError
from digest.people.csvimport import import_csv
from digest.people.csvimport.tools import TOOLS
from digest.people.subscribers import email_hash, get_subscriber, history, is_suppressed
from digest.store import db
from tests.conftest import DATA, examples

EXPORTS = DATA / "exports"
GONE = ("unsubscribed", "bounced", "complained")
NOT_STORED = None

# file → {address: status after the import (None: not stored, never opted in)}, and the layout's name.
EXPECTED: dict[str, tuple[str, dict[str, str | None]]] = {
    "substack-signup-emails.csv": (
        "substack",
        {
            "nadia.rahman@brookfield-primary.example.org": "active",
            "owen.price@harbourside.example.org": "active",
            "ruth.ellis@millbrook-academy.example.org": "unsubscribed",
            "3f9a1c7e@deletion-request.substack.com": NOT_STORED,
        },
    ),
    "beehiiv-subscribers.csv": (
        "beehiiv",
        {
            "grace.mills@oakfield-nursery.example.org": "active",
            "tariq.aziz@riverside-youth.example.org": "unsubscribed",  # status active, unsubscribed_at set
            "lena.hart@kingsway-college.example.ac.uk": "unsubscribed",
            "sam.cole@eastfield-fc.example.org": NOT_STORED,
        },
    ),
    "buttondown-subscribers.csv": (
        "buttondown",
        {
            "ada.morgan@northgate-trust.example.org": "active",
            "ben.osei@lakeside-health.example.net": "active",
            "cora.lane@hillside-primary.example.org": "unsubscribed",
            "dev.shah@old-school.example.org": "bounced",
            "eve.grant@westmoor-club.example.org": "complained",
            "finn.ward@unconfirmed.example.org": NOT_STORED,
            "gina.roe@removed.example.org": "unsubscribed",
        },
    ),
    "kit-subscribers.csv": (
        "kit",
        {
            "hana.ito@greenfield-primary.example.org": "active",
            "ivan.petrov@seaview-academy.example.org": "unsubscribed",
            "jade.khan@bounced.example.org": "bounced",
            "kofi.mensah@complained.example.org": "complained",
            "lucy.brown@unconfirmed.example.org": NOT_STORED,
        },
    ),
    "brevo-contacts-export.csv": (
        "brevo",
        {
            "maya.singh@elmwood-primary.example.org": "active",
            "noah.reid@harbour-scouts.example.org": "active",  # blocklisted for SMS only
            "olga.nowak@left.example.org": "unsubscribed",
        },
    ),
    "brevo-contacts-blacklist-column.csv": (
        "brevo",
        {"paul.adams@brookside-care.example.org": "active", "quinn.fox@left.example.org": "unsubscribed"},
    ),
    "campaign-monitor-subscribers.csv": (
        "campaign-monitor",
        {
            "rosa.diaz@parkview-primary.example.org": "active",
            "saul.berg@left.example.org": "unsubscribed",
            "tess.young@bounced.example.org": "bounced",
            "uma.das@deleted.example.org": "unsubscribed",
            "vic.lowe@unconfirmed.example.org": NOT_STORED,
        },
    ),
    "shopify-customers-export.csv": (
        "shopify",
        {"wendy.hale@fernhill-school.example.org": "active", "xavier.moss@example.net": NOT_STORED},
    ),
    "mailerlite-subscribers.csv": (
        "mailerlite",
        {
            "yara.said@meadow-primary.example.org": "active",
            "zack.hill@left.example.org": "unsubscribed",
            "amy.fry@junk.example.org": "complained",
            "bea.king@unconfirmed.example.org": NOT_STORED,
        },
    ),
    **{
        f"mailchimp-{lang}-unsubscribed.csv": ("mailchimp-unsubscribed", dict.fromkeys(people, "unsubscribed"))
        for lang, people in {
            "de": ("lea.wagner@grundschule-nord.example.de", "jonas.becker@verein.example.de"),
            "fr": ("chloe.martin@ecole-sud.example.fr", "hugo.bernard@club.example.fr"),
            "es": ("lucia.garcia@colegio.example.es", "pablo.ruiz@club.example.es"),
            "nl": ("sanne.devries@basisschool.example.nl", "daan.jansen@club.example.nl"),
        }.items()
    },
    "mailchimp-es-cleaned.csv": (
        "mailchimp-cleaned",
        dict.fromkeys(("lucia.garcia@colegio.example.es", "pablo.ruiz@club.example.es"), "bounced"),
    ),
    "mailchimp-nl-cleaned.csv": (
        "mailchimp-cleaned",
        dict.fromkeys(("sanne.devries@basisschool.example.nl", "daan.jansen@club.example.nl"), "bounced"),
    ),
    "mailchimp-de-subscribed.csv": (
        "mailchimp-subscribed",
        dict.fromkeys(("lea.wagner@grundschule-nord.example.de", "jonas.becker@verein.example.de"), "active"),
    ),
}


def copy(project: Path, name: str) -> Path:
    target = project / name
    shutil.copy(EXPORTS / name, target)
    return target


def stored(engine) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return {
            row.email: row.status for row in conn.execute(sa.select(db.subscribers.c.email, db.subscribers.c.status))
        }


def suppressed(engine, settings, email: str) -> bool:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return is_suppressed(conn, email_hash(settings, email.lower()))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_tools_export_keeps_who_left(engine, settings, project, name: str) -> None:  # type: ignore[no-untyped-def]
    layout, expected = EXPECTED[name]
    summary = import_csv(engine, settings, copy(project, name))
    assert summary.layout is not None and summary.layout.name == layout
    assert summary.invalid == 0, summary.rejects
    people = stored(engine)
    for email, status in expected.items():
        assert people.get(email) == status, (email, people.get(email), status)
        if status in GONE:
            assert suppressed(engine, settings, email)
    assert summary.not_subscribed == sum(1 for status in expected.values() if status is None)
    assert summary.suppressed == sum(1 for status in expected.values() if status in GONE)


def test_the_evidence_names_the_tool_the_column_and_the_value(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    import_csv(engine, settings, copy(project, "beehiiv-subscribers.csv"))
    tariq = get_subscriber(engine, "tariq.aziz@riverside-youth.example.org")
    assert history(engine, tariq.id)[0].detail == (
        "line 3: the beehiiv subscriber export, known by the columns status, tier, created_at; "
        "column 'unsubscribed_at' says '2025-02-11 07:12:40 UTC'"
    )
    import_csv(engine, settings, copy(project, "kit-subscribers.csv"))
    jade = get_subscriber(engine, "jade.khan@bounced.example.org")
    assert "column 'state' says 'bounced'" in history(engine, jade.id)[0].detail


def test_the_tools_subscription_dates_are_the_consent_dates(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    for name in ("beehiiv-subscribers.csv", "kit-subscribers.csv", "mailerlite-subscribers.csv"):
        import_csv(engine, settings, copy(project, name))
    grace = get_subscriber(engine, "grace.mills@oakfield-nursery.example.org")
    assert grace.consent_at == datetime(2024, 1, 8, 8, 15, 42, tzinfo=UTC)  # "… UTC" as beehiiv writes it
    assert get_subscriber(engine, "hana.ito@greenfield-primary.example.org").consent_at == datetime(
        2024, 2, 1, 9, 0, tzinfo=UTC
    )
    yara = get_subscriber(engine, "yara.said@meadow-primary.example.org")
    assert yara.consent_at == datetime(2024, 9, 1, 8, 2, 10, tzinfo=UTC)  # the confirmation (opted_in_at)
    assert "optin_ip '198.51.100.7'" in history(engine, yara.id)[0].detail


def test_mailerlites_name_column_is_the_first_name(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    import_csv(engine, settings, copy(project, "mailerlite-subscribers.csv"))
    yara = get_subscriber(engine, "yara.said@meadow-primary.example.org")
    assert (yara.first_name, yara.last_name, yara.organisation) == ("Yara", "Said", "Meadow Primary School")
    assert yara.attributes["state"] == "West Yorkshire"  # MailerLite's state is a place, not a status


def test_a_name_column_beside_a_last_name_column_is_the_first_name(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    path = project / "list.csv"
    path.write_text("Email,Name,Last name\nm.ali@example.org,Mina,Ali\n", encoding="utf-8")
    import_csv(engine, settings, path)
    mina = get_subscriber(engine, "m.ali@example.org")
    assert (mina.first_name, mina.last_name) == ("Mina", "Ali")


def test_localised_mailchimp_headers_give_names_and_consent(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    summary = import_csv(engine, settings, copy(project, "mailchimp-de-subscribed.csv"))
    assert summary.columns[:3] == ["E-Mail-Adresse → email address", "Vorname → first name", "Nachname → last name"]
    lea = get_subscriber(engine, "lea.wagner@grundschule-nord.example.de")
    assert (lea.first_name, lea.last_name) == ("Lea", "Wagner")
    assert lea.consent_at == datetime(2023, 5, 4, 10, 1, 30, tzinfo=UTC)
    import_csv(engine, settings, copy(project, "mailchimp-fr-unsubscribed.csv"))
    chloe = get_subscriber(engine, "chloe.martin@ecole-sud.example.fr")
    assert (chloe.first_name, chloe.last_name, chloe.status) == ("Chloé", "Martin", "unsubscribed")


def test_a_localised_mailchimp_file_with_the_email_column_renamed_is_still_mailchimps(
    engine, settings, project
) -> None:  # type: ignore[no-untyped-def]
    """The old error advised renaming the column to 'email'; the renamed unsubscribed file then came in active."""
    text = (EXPORTS / "mailchimp-de-unsubscribed.csv").read_text(encoding="utf-8-sig")
    path = project / "renamed.csv"
    path.write_text(text.replace("E-Mail-Adresse", "email", 1), encoding="utf-8")
    summary = import_csv(engine, settings, path)
    assert summary.layout is not None and summary.layout.name == "mailchimp-unsubscribed"
    assert set(stored(engine).values()) == {"unsubscribed"}


def test_the_table_names_every_tool_once_with_its_statuses() -> None:
    names = [tool.name for tool in TOOLS]
    assert len(names) == len(set(names))
    assert {"substack", "beehiiv", "buttondown", "kit", "brevo", "campaign-monitor", "shopify", "mailerlite"} <= set(
        names
    )
    for tool in TOOLS:
        assert tool.recognised_by, tool.name
        for rule in tool.status:
            assert set(rule.values.values()) <= {"active", "unsubscribed", "bounced", "complained", "not-subscribed"}


# --- a column whose meaning the import does not know -----------------------------------------------


def test_an_unknown_status_column_stops_the_import_with_a_question(engine, settings, project, invoke) -> None:  # type: ignore[no-untyped-def]
    path = project / "crm.csv"
    path.write_text(
        "Email,First name,Unsubscribed\na@example.org,Ann,false\nb@example.org,Bob,true\nc@example.org,Cal,\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as caught:
        import_csv(engine, settings, path)
    message = str(caught.value)
    assert "column 'Unsubscribed'" in message and "'true'" in message
    assert "--status-column Unsubscribed --left-values" in message
    assert stored(engine) == {}  # nobody imported as active
    result = invoke("subscribers", "import", str(path))
    assert result.exit_code == 1 and "--status-column" in result.output
    summary = import_csv(engine, settings, path, status_column="Unsubscribed", left_values=["true", "yes"])
    assert (summary.new, summary.suppressed) == (2, 1)
    assert stored(engine) == {"a@example.org": "active", "b@example.org": "unsubscribed", "c@example.org": "active"}
    bob = get_subscriber(engine, "b@example.org")
    assert "column 'Unsubscribed' says 'true' (--left-values true, yes)" in history(engine, bob.id)[0].detail


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("State", "Unsubscribed"),
        ("Blacklisted", "1"),
        ("Blocklisted", "yes"),
        ("Email disabled", "TRUE"),
        ("unsubscribed_at", "2024-03-01 10:00"),
        ("Subscription", "cancelled"),
        ("Opt-out", "Y"),
    ],
)
def test_status_like_columns_are_questioned(engine, settings, project, header: str, value: str) -> None:  # type: ignore[no-untyped-def]
    path = project / "list.csv"
    path.write_text(f"Email,{header}\nkeep@example.org,\ngone@example.org,{value}\n", encoding="utf-8")
    with pytest.raises(InputError, match="--status-column"):
        import_csv(engine, settings, path)
    assert stored(engine) == {}


def test_a_state_column_of_places_is_an_attribute(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    path = project / "list.csv"
    path.write_text("Email,State\nann@example.org,Norfolk\nbob@example.org,Texas\n", encoding="utf-8")
    import_csv(engine, settings, path)
    assert get_subscriber(engine, "bob@example.org").attributes == {"state": "Texas"}


def test_left_values_need_a_status_column(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    path = project / "list.csv"
    path.write_text("Email,Flag\nann@example.org,x\n", encoding="utf-8")
    with pytest.raises(InputError, match="--status-column"):
        import_csv(engine, settings, path, left_values=["x"])
    with pytest.raises(InputError, match="no column 'Nope'"):
        import_csv(engine, settings, path, status_column="Nope", left_values=["x"])


# --- never, under any layout, does a person the file marks as gone become active -------------------


def _gone_rows() -> list[tuple[str, list[str], int, str]]:
    """(file, header, email column, one of its rows that marks a person as gone), from the sample files."""
    found = []
    for name, (_layout, expected) in EXPECTED.items():
        text = (EXPORTS / name).read_text(encoding="utf-8-sig")
        delimiter = ";" if text.split("\n", 1)[0].count(";") > text.split("\n", 1)[0].count(",") else ","
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
        header = rows[0]
        email_at = next(i for i, row in enumerate(rows[1]) if "@" in row)
        for row in rows[1:]:
            if expected.get(row[email_at]) in GONE:
                found.append((name, header, email_at, delimiter.join(_quoted(cell, delimiter) for cell in row)))
    return found


def _quoted(cell: str, delimiter: str) -> str:
    return f'"{cell}"' if delimiter in cell or '"' in cell else cell


GONE_ROWS = _gone_rows()


@hsettings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    picked=st.sampled_from(GONE_ROWS),
    active_first=st.booleans(),
    case=st.sampled_from(["as is", "upper", "lower"]),
    padding=st.sampled_from(["", " "]),
)
def test_a_person_marked_gone_never_becomes_active(  # type: ignore[no-untyped-def]
    engine, settings, project, picked, active_first: bool, case: str, padding: str
) -> None:
    """Whatever came before (an active record of the same person) and however the row's values are cased
    or padded, a row that marks its person as gone leaves them not active."""
    name, header, email_at, row = picked
    delimiter = ";" if ";" in row and "," not in header[0] else ","
    cells = next(csv.reader([row], delimiter=delimiter))
    email = cells[email_at]
    changed = [
        cell if index == email_at else padding + {"upper": cell.upper(), "lower": cell.lower()}.get(case, cell)
        for index, cell in enumerate(cells)
    ]
    if active_first:
        from digest.people.subscribers import add_subscriber

        with contextlib.suppress(DigestError):  # already there from an earlier example, or suppressed
            add_subscriber(engine, settings, email, {}, consent_source="test")
    path = project / name
    body = delimiter.join(_quoted(cell, delimiter) for cell in changed)
    path.write_text(delimiter.join(header) + "\n" + body + "\n", encoding="utf-8")
    try:
        import_csv(engine, settings, path)
    except InputError:
        pass  # refused: nobody was made active
    assert stored(engine).get(email) != "active", (name, changed)
