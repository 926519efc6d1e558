"""Subscriber exports written by other software: Mailchimp's four audience files, listmonk's export, hand-kept lists.

The files in tests/data/exports are invented people in the exact column
layouts those tools write (Mailchimp: one file per status, the status given
by the file's columns; listmonk: email, name, a JSON attributes column).
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from digest.errors import InputError
from digest.people.csvimport import import_csv
from digest.people.subscribers import email_hash, get_subscriber, history, is_suppressed, remove_subscriber
from digest.store import db
from tests.conftest import DATA

EXPORTS = DATA / "exports"
SUBSCRIBED = "subscribed_members_export_3f9a1c.csv"
UNSUBSCRIBED = "unsubscribed_members_export_3f9a1c.csv"
CLEANED = "cleaned_members_export_3f9a1c.csv"
NONSUBSCRIBED = "nonsubscribed_members_export_3f9a1c.csv"


def copy(project: Path, name: str, as_name: str | None = None) -> Path:
    target = project / (as_name or name)
    shutil.copy(EXPORTS / name, target)
    return target


def count(engine, table=db.subscribers) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def suppressed(engine, settings, email: str) -> bool:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return is_suppressed(conn, email_hash(settings, email.lower()))


def test_mailchimp_subscribed_export_imports_with_consent_evidence(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    summary = import_csv(engine, settings, copy(project, SUBSCRIBED))
    assert summary.layout is not None and summary.layout.name == "mailchimp-subscribed"
    assert (summary.new, summary.invalid, summary.suppressed) == (5, 1, 0)
    assert summary.rejects == [
        (
            7,
            "neither OPTIN_TIME nor CONFIRM_TIME: nothing shows this person opted in (Mailchimp's non-subscribed "
            "contacts look like this); add them with `digest subscribers add` if they did",
        )
    ]
    amira = get_subscriber(engine, "amira.khan@northshire-primary.example.org")
    assert (amira.first_name, amira.role, amira.organisation) == (
        "Amira",
        "Designated Safeguarding Lead",
        "Northshire Primary School",
    )
    # Consent time from CONFIRM_TIME, not OPTIN_TIME; the opt-in IP kept as evidence in the history.
    assert amira.consent_at is not None and amira.consent_at.isoformat() == "2024-03-04T09:15:02+00:00"
    (entry,) = history(engine, amira.id)
    assert (entry.cause, entry.new_status) == ("import", "active")
    assert entry.detail == (
        f"import: {SUBSCRIBED}, line 2: Mailchimp's subscribed audience export; consent: "
        "CONFIRM_TIME 2024-03-04 09:15:02 from CONFIRM_IP '198.51.100.23'; "
        "OPTIN_TIME 2024-03-04 09:12:44 from OPTIN_IP '198.51.100.23'"
    )
    # Mailchimp's geo-IP guess is not our region; tags that name a topic became topics, the rest an attribute.
    assert amira.region == ""
    assert amira.topics == ["online-safety"]
    assert amira.attributes == {"phone_number": "01632 960001", "tags": "DSL network"}
    tom = get_subscriber(engine, "tom.bell@eastgate-academy.example.org")
    assert tom.consent_at is not None and tom.consent_at.isoformat() == "2023-11-20T14:02:10+00:00"  # OPTIN_TIME empty
    assert tom.topics == ["education"] and "notes" not in tom.attributes
    coach = get_subscriber(engine, "coach@harbour-rowing.example.org")
    assert coach.topics == ["sport-community", "water-safety"]  # a tag with a comma in it
    priya = get_subscriber(engine, "priya.shah@faithcentre.example.org")
    assert priya.consent_at is not None and priya.consent_at.isoformat() == "2024-09-09T12:00:00+00:00"
    assert [(column.split(" → ")[0]) for column in summary.columns][:3] == ["Email Address", "First Name", "Last Name"]
    assert "REGION → ignored (Mailchimp's guess from the IP address (--map REGION=FIELD to use it))" in summary.columns


def test_region_is_used_only_when_the_admin_maps_it(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    summary = import_csv(engine, settings, copy(project, SUBSCRIBED), maps=["REGION=region", "NOTES=attributes.notes"])
    assert "REGION → region (--map REGION=region)" in summary.columns
    assert get_subscriber(engine, "amira.khan@northshire-primary.example.org").region == "ENG"
    tom = get_subscriber(engine, "tom.bell@eastgate-academy.example.org")
    assert tom.attributes["notes"] == "Met at the DSL conference, asked for the digest"
    with pytest.raises(InputError) as caught:
        import_csv(engine, settings, copy(project, SUBSCRIBED), maps=["POSTCODE=region"])
    assert "--map POSTCODE=region: no column 'POSTCODE'" in str(caught.value)
    with pytest.raises(InputError) as caught:
        import_csv(engine, settings, copy(project, SUBSCRIBED), maps=["REGION=colour"])
    assert "write COLUMN=FIELD" in str(caught.value)


def test_mailchimp_unsubscribed_export_unsubscribes_and_suppresses(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    import_csv(engine, settings, copy(project, SUBSCRIBED))
    summary = import_csv(engine, settings, copy(project, UNSUBSCRIBED))
    assert summary.layout is not None and summary.layout.status == "unsubscribed"
    assert (summary.new, summary.suppressed, summary.invalid) == (0, 2, 0)
    # An active subscriber in the unsubscribed file is unsubscribed, with the file and column as evidence.
    tom = get_subscriber(engine, "tom.bell@eastgate-academy.example.org")
    assert tom.status == "unsubscribed" and suppressed(engine, settings, tom.email)
    last = history(engine, tom.id)[-1]
    assert (last.old_status, last.new_status, last.cause) == ("active", "unsubscribed", "import")
    assert last.detail == (
        "line 2: Mailchimp's unsubscribed audience export, known by the UNSUB_TIME, UNSUB_CAMPAIGN_TITLE, "
        "UNSUB_CAMPAIGN_ID, UNSUB_REASON, UNSUB_REASON_OTHER columns; UNSUB_TIME '2025-03-02 18:20:05', "
        "UNSUB_CAMPAIGN_TITLE 'SAFE Newsfeed, 3 March 2025', UNSUB_CAMPAIGN_ID '7e1c2a9f01', "
        "UNSUB_REASON 'I no longer want to receive these emails'"
    )
    # Someone we never had is stored as unsubscribed (never active) and suppressed.
    jo = get_subscriber(engine, "jo.reed@westfield-college.example.ac.uk")
    assert jo.status == "unsubscribed" and suppressed(engine, settings, jo.email)
    assert [(e.old_status, e.new_status) for e in history(engine, jo.id)] == [(None, "unsubscribed")]
    assert "UNSUB_REASON_OTHER 'Left the college" in history(engine, jo.id)[0].detail
    # Importing the subscribed file again changes nobody back.
    again = import_csv(engine, settings, copy(project, SUBSCRIBED), update=True)
    assert again.suppressed == 1 and again.new == 0
    assert get_subscriber(engine, tom.email).status == "unsubscribed"


def test_mailchimp_cleaned_export_bounces_and_suppresses(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    import_csv(engine, settings, copy(project, SUBSCRIBED))
    summary = import_csv(engine, settings, copy(project, CLEANED))
    assert summary.layout is not None and summary.layout.name == "mailchimp-cleaned"
    assert summary.suppressed == 2
    grace = get_subscriber(engine, "grace.okafor@riverside-nhs.example.net")
    assert grace.status == "bounced" and suppressed(engine, settings, grace.email)
    assert "CLEAN_TIME '2025-04-07 06:10:44'" in history(engine, grace.id)[-1].detail
    pat = get_subscriber(engine, "dsl@closed-school.example.org")
    assert pat.status == "bounced" and suppressed(engine, settings, pat.email)


def test_mailchimp_nonsubscribed_export_mails_nobody(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    import_csv(engine, settings, copy(project, SUBSCRIBED))
    before = count(engine)
    summary = import_csv(engine, settings, copy(project, NONSUBSCRIBED))
    assert summary.layout is not None and summary.layout.name == "mailchimp-nonsubscribed"
    assert (summary.new, summary.not_subscribed, summary.suppressed) == (0, 2, 0)
    assert count(engine) == before
    with pytest.raises(Exception, match="no subscriber"):
        get_subscriber(engine, "shop.customer@example.org")
    assert not suppressed(engine, settings, "shop.customer@example.org")  # they may still sign up themselves
    # Someone who subscribed here is left as they are.
    assert get_subscriber(engine, "amira.khan@northshire-primary.example.org").status == "active"


def test_a_renamed_mailchimp_file_that_contradicts_its_columns_is_refused(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    path = copy(project, SUBSCRIBED, as_name="unsubscribed_members_export_3f9a1c.csv")
    with pytest.raises(InputError) as caught:
        import_csv(engine, settings, path)
    assert "the name says Mailchimp's unsubscribed export, but the file has none of its UNSUB_ columns" in str(
        caught.value
    )
    assert count(engine) == 0


def test_never_made_active_from_an_unsubscribed_export_even_as_a_duplicate(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    text = (EXPORTS / UNSUBSCRIBED).read_text(encoding="utf-8-sig")
    path = project / "unsubscribed_members_export_x.csv"
    path.write_text(text + text.splitlines()[1] + "\n", encoding="utf-8")
    summary = import_csv(engine, settings, path)
    assert (summary.new, summary.duplicate) == (0, 1)
    with engine.connect() as conn:
        statuses = set(conn.execute(sa.select(db.subscribers.c.status)).scalars())
    assert statuses == {"unsubscribed"}


def test_a_generic_file_where_a_later_row_says_the_person_left(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    rows = "".join(f"p{n}@example.org,\n" for n in range(1200))
    path = project / "list.csv"
    path.write_text("email,status\n" + rows + "P3@example.org,unsubscribed\n", encoding="utf-8")
    summary = import_csv(engine, settings, path)
    assert summary.new == 1200 and summary.duplicate == 1
    p3 = get_subscriber(engine, "p3@example.org")
    assert p3.status == "unsubscribed" and suppressed(engine, settings, p3.email)
    assert history(engine, p3.id)[-1].detail == (
        "line 1202: a spreadsheet or CRM export, column 'status' says 'unsubscribed'"
    )
    # The same within one batch: the cautious row wins, and the person is never active.
    small = project / "small.csv"
    small.write_text("email,status\nq@example.org,subscribed\nQ@example.org,cleaned\n", encoding="utf-8")
    assert import_csv(engine, settings, small).duplicate == 1
    q = get_subscriber(engine, "q@example.org")
    assert q.status == "bounced" and suppressed(engine, settings, q.email)
    assert [(e.old_status, e.new_status) for e in history(engine, q.id)] == [(None, "bounced")]


def test_an_erased_address_in_an_unsubscribed_export_is_not_stored_again(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    from digest.people.erasure import erase_subscriber
    from digest.people.subscribers import add_subscriber

    add_subscriber(engine, settings, "jo.reed@westfield-college.example.ac.uk", {}, consent_source="t")
    erase_subscriber(engine, settings, "jo.reed@westfield-college.example.ac.uk")
    import_csv(engine, settings, copy(project, UNSUBSCRIBED))
    with engine.connect() as conn:
        emails = set(conn.execute(sa.select(db.subscribers.c.email)).scalars())
    assert "jo.reed@westfield-college.example.ac.uk" not in emails


def test_listmonk_export(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    summary = import_csv(engine, settings, copy(project, "listmonk-subscribers.csv"))
    assert summary.layout is not None and summary.layout.name == "listmonk"
    assert (summary.new, summary.suppressed, summary.not_subscribed, summary.invalid) == (4, 1, 1, 0)
    hannah = get_subscriber(engine, "hannah.price@lakeside-first.example.org")
    assert (hannah.first_name, hannah.last_name) == ("Hannah", "Price")
    assert hannah.attributes == {
        "phase": "primary",
        "school_urn": "100123",
        "school_trust": "Lakeside Learning Trust",
        "dsl_trained": "true",
    }
    evans = get_subscriber(engine, "d.evans@hillcrest.example.org")
    assert (evans.first_name, evans.last_name, evans.attributes) == ("Dafydd", "Evans", {"roles": "DSL; SENCo"})
    mo = get_subscriber(engine, "mo@example.org")
    assert (mo.first_name, mo.last_name) == ("", "")  # listmonk's name was only the address's local part
    left = get_subscriber(engine, "left@example.org")
    assert left.status == "unsubscribed" and suppressed(engine, settings, left.email)
    assert "column 'status' says 'blocklisted'" in history(engine, left.id)[0].detail
    with pytest.raises(Exception, match="no subscriber"):
        get_subscriber(engine, "paused@example.org")
    broken = get_subscriber(engine, "broken.json@example.org")
    assert broken.attributes == {}
    assert summary.warnings == [
        f"{project / 'listmonk-subscribers.csv'}, line 7: attributes are not valid JSON; "
        "broken.json@example.org imported without them"
    ]
    assert "attributes → attributes (a JSON object, kept as free attributes)" in summary.columns
    assert "uuid → ignored (listmonk's own id)" in summary.columns


def test_topics_by_label_with_commas_and_unknown_topics_dropped(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    summary = import_csv(engine, settings, copy(project, "dsl-contacts.csv"))
    assert (summary.new, summary.invalid) == (10, 0)  # nobody is dropped for a topic
    topics = {
        person: get_subscriber(engine, f"{person}@example.org").topics
        for person in ("a.one", "b.two", "c.three", "d.four", "e.five", "f.six", "g.seven", "h.eight", "i.nine")
    }
    assert topics == {
        "a.one": ["online-safety"],
        "b.two": ["sport-community"],
        "c.three": ["online-safety", "sport-community"],
        "d.four": ["social-care", "courts-justice"],
        "e.five": ["online-safety", "water-safety"],
        "f.six": ["sport-community", "water-safety"],
        "g.seven": ["domestic-abuse"],
        "h.eight": ["social-care"],
        "i.nine": ["online-safety", "education"],
    }
    (warning,) = summary.warnings
    assert "unknown topic 'Astrology' left out on line 8 (the people were imported); topics are " in warning
    assert "sport-community (Sport, clubs and community)" in warning


def test_dry_run_reports_every_column(invoke, project) -> None:  # type: ignore[no-untyped-def]
    copy(project, UNSUBSCRIBED)
    result = invoke("subscribers", "import", UNSUBSCRIBED, "--dry-run")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "File: Mailchimp's unsubscribed audience export (known by the UNSUB_TIME, UNSUB_CAMPAIGN_TITLE, "
        "UNSUB_CAMPAIGN_ID, UNSUB_REASON, UNSUB_REASON_OTHER columns): everyone in it is unsubscribed and suppressed."
    )
    assert lines[1] == "Columns:"
    assert lines[2:] == [
        "  Email Address → email address",
        "  First Name → first name",
        "  Last Name → last name",
        "  Organisation → organisation",
        "  Job Title → role",
        "  Sector → sector",
        "  Phone Number → attribute phone_number (not a field of ours; segments can match it)",
        "  MEMBER_RATING → ignored (Mailchimp's engagement rating, not a fact about the person)",
        "  OPTIN_TIME → opt-in time (the consent time when there is no confirmation time)",
        "  OPTIN_IP → opt-in IP address, kept in the history as consent evidence",
        "  CONFIRM_TIME → confirmation time (the consent time)",
        "  CONFIRM_IP → confirmation IP address, kept in the history as consent evidence",
        "  LATITUDE → ignored (Mailchimp's guess from the IP address (--map LATITUDE=FIELD to use it))",
        "  LONGITUDE → ignored (Mailchimp's guess from the IP address (--map LONGITUDE=FIELD to use it))",
        "  GMTOFF → ignored (Mailchimp's guess from the IP address (--map GMTOFF=FIELD to use it))",
        "  DSTOFF → ignored (Mailchimp's guess from the IP address (--map DSTOFF=FIELD to use it))",
        "  TIMEZONE → ignored (Mailchimp's guess from the IP address (--map TIMEZONE=FIELD to use it))",
        "  CC → ignored (Mailchimp's guess from the IP address (--map CC=FIELD to use it))",
        "  REGION → ignored (Mailchimp's guess from the IP address (--map REGION=FIELD to use it))",
        "  UNSUB_TIME → kept in the history as evidence of the status",
        "  UNSUB_CAMPAIGN_TITLE → kept in the history as evidence of the status",
        "  UNSUB_CAMPAIGN_ID → kept in the history as evidence of the status",
        "  UNSUB_REASON → kept in the history as evidence of the status",
        "  UNSUB_REASON_OTHER → kept in the history as evidence of the status",
        "  LEID → ignored (Mailchimp's own id)",
        "  EUID → ignored (Mailchimp's own id)",
        "  NOTES → ignored (Mailchimp's internal notes (--map NOTES=FIELD to use it))",
        "  TAGS → tags: those naming a topic become topics, the rest attribute 'tags'",
        "Dry run, nothing written. Would import: 0 new, 0 updated, 0 unchanged, 0 duplicate, 0 invalid, "
        "2 suppressed (2 rows).",
    ]


def _workbook(path: Path, kind: str) -> Path:
    if kind == "xls":
        path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504)
        return path
    with zipfile.ZipFile(path, "w") as archive:
        if kind == "ods":
            archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
            archive.writestr("content.xml", "<office:document-content/>")
        elif kind == "xlsx":
            archive.writestr("[Content_Types].xml", "<Types/>")
            archive.writestr("xl/workbook.xml", "<workbook/>")
        else:
            archive.writestr(SUBSCRIBED, (EXPORTS / SUBSCRIBED).read_bytes())
            archive.writestr(UNSUBSCRIBED, (EXPORTS / UNSUBSCRIBED).read_bytes())
    return path


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("xlsx", "this is an Excel workbook (.xlsx), not CSV text; open it in your spreadsheet program and save it"),
        ("xls", "this is an Excel workbook (.xls), not CSV text"),
        ("ods", "this is an OpenDocument spreadsheet (.ods), not CSV text"),
        ("zip", f"this is a zip archive holding {SUBSCRIBED}, {UNSUBSCRIBED} (Mailchimp's audience export"),
    ],
)
def test_a_workbook_given_as_csv_is_refused_with_how_to_save_it(
    engine, settings, project, kind: str, says: str
) -> None:  # type: ignore[no-untyped-def]
    path = _workbook(project / "subscribers.csv", kind)
    with pytest.raises(InputError) as caught:
        import_csv(engine, settings, path)
    assert str(caught.value).startswith(f"{path}: {says}")
    if kind != "zip":
        assert "'CSV UTF-8 (Comma delimited) (*.csv)'" in str(caught.value)
    assert "--encoding" not in str(caught.value)


RUNAWAY = (
    "email,first_name,organisation\n"
    "amy@example.org,Amy,St Mary's\n"
    "bob@example.org,\"Bob,St John's\n"
    "cat@example.org,Cat,Leeds College\n"
    "dan@example.org,Dan,Harbour Club\n"
    'eve@example.org,"Eve",Hill School\n'
    "fay@example.org,Fay,Fen Academy\n"
)


def test_an_unterminated_quote_that_swallows_rows_stops_the_import(engine, settings, project, invoke) -> None:  # type: ignore[no-untyped-def]
    path = project / "list.csv"
    path.write_text(RUNAWAY, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        import_csv(engine, settings, path)
    assert caught.value.line == 3
    assert "swallows the rows after it (line 4: 'cat@example.org,Cat,Leeds College')" in str(caught.value)
    assert count(engine) == 0
    result = invoke("subscribers", "import", "list.csv")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: list.csv, line 3: a quoted field opens on this line and is not closed")
    assert count(engine) == 0


def test_a_quote_left_open_at_the_end_of_the_file_is_reported(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    path = project / "list.csv"
    path.write_text('email,first_name\namy@example.org,Amy\nbob@example.org,"Bob\n', encoding="utf-8")
    with pytest.raises(InputError) as caught:
        import_csv(engine, settings, path)
    assert caught.value.line == 3
    assert "is never closed before the end of the file" in str(caught.value)
    assert count(engine) == 0


def test_real_multi_line_cells_are_still_fine(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    path = project / "list.csv"
    path.write_text(
        'email,first_name,notes\namy@example.org,Amy,"Spoke to the head.\nCC: deputy@example.org, tel 01632 960000"\n'
        'bob@example.org,Bob,"Line one\nline two"\n',
        encoding="utf-8",
    )
    summary = import_csv(engine, settings, path)
    assert summary.new == 2
    assert remove_subscriber(engine, settings, "amy@example.org").status == "unsubscribed"
