"""Subscriber CSV import with nasty files made here: every rejected row named, nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from digest.errors import InputError
from digest.people.csvimport import import_csv
from digest.people.subscribers import get_subscriber, history, remove_subscriber
from digest.store import db


def write(project: Path, text: str, name: str = "list.csv", encoding: str = "utf-8") -> Path:
    path = project / name
    path.write_bytes(text.encode(encoding))
    return path


def count(engine, table=db.subscribers) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def outcome(summary) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    return (summary.new, summary.updated, summary.unchanged, summary.duplicate, summary.invalid, summary.suppressed)


MAILCHIMP = (
    "\ufeffEmail Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,LEID,School Phase\r\n"
    "amira@school.example.org,Amira,Khan,2,2024-05-01 10:20:30,10.0.0.1,,123,primary\r\n"
    "\r\n"
    '"tom@academy.example.org","Bell, Tom","Line one\nline two",3,,,2024-06-02 08:00:00,,\r\n'
    "AMIRA@School.Example.org,,Khan-Smith,,,,2024-05-01 10:25:00,,\r\n"
)


def test_mailchimp_export_with_bom_crlf_quotes_and_duplicates(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    summary = import_csv(engine, settings, write(project, MAILCHIMP))
    assert outcome(summary) == (2, 0, 0, 1, 0, 0)
    assert summary.rows == 3
    assert summary.attribute_columns == ["School Phase"]
    amira = get_subscriber(engine, "amira@school.example.org")
    assert (amira.email, amira.first_name, amira.last_name) == ("amira@school.example.org", "Amira", "Khan")
    assert amira.attributes == {"school_phase": "primary"}
    assert amira.consent_at is not None and amira.consent_at.isoformat() == "2024-05-01T10:20:30+00:00"
    assert amira.consent_source == "import: list.csv"
    tom = get_subscriber(engine, "TOM@academy.example.org")
    assert (tom.first_name, tom.last_name) == ("Bell, Tom", "Line one line two")
    assert [(e.cause, e.new_status) for e in history(engine, tom.id)] == [("import", "active")]


def test_invalid_rows_are_reported_by_line_and_the_rest_imported(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    text = (
        "email,first_name\n"
        "good@example.org,Good\n"
        "no-at-sign.example.org,A\n"
        ",Nobody\n"
        "two@@example.org,B\n"
        '"multi\nline@example.org",C\n'
        "space in@example.org,D\n"
        "dot..dot@example.org,E\n"
        "ok@bücher.de,Jürgen\n"
        "x@example.org,too,many,fields\n"
    )
    summary = import_csv(engine, settings, write(project, text))
    assert outcome(summary) == (2, 0, 0, 0, 7, 0)
    assert [line for line, _ in summary.rejects] == [3, 4, 5, 6, 8, 9, 11]
    reasons = dict(summary.rejects)
    assert reasons[3] == "'no-at-sign.example.org' is not a valid email address (An email address must have an @-sign.)"
    assert reasons[4] == "no email address"
    assert reasons[11] == "has 4 fields but the header has 2"
    assert get_subscriber(engine, "OK@BÜCHER.DE").first_name == "Jürgen"


def test_windows_1252_is_detected_and_can_be_named(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    text = "email;first_name;organisation\r\nzoe@example.org;Zoë;St Mary’s – Diss\r\n"
    path = write(project, text, encoding="cp1252")
    summary = import_csv(engine, settings, path, dry_run=True)
    assert summary.warnings == [f"{path}: not UTF-8; read as Windows-1252 (use --encoding to choose)"]
    assert summary.new == 1
    import_csv(engine, settings, path, encoding="cp1252")
    assert get_subscriber(engine, "zoe@example.org").organisation == "St Mary’s – Diss"
    with pytest.raises(InputError) as caught:
        import_csv(engine, settings, path, encoding="utf-8")
    assert "not valid utf-8 text" in str(caught.value)


def test_dry_run_writes_nothing(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    summary = import_csv(engine, settings, write(project, MAILCHIMP), dry_run=True)
    assert summary.new == 2 and summary.dry_run
    assert count(engine) == 0
    assert count(engine, db.subscriber_history) == 0


def test_existing_subscribers_change_only_with_update(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    import_csv(engine, settings, write(project, "email,role\nann@example.org,Teacher\nbob@example.org,Nurse\n"))
    changed = write(project, "email,role,sector\nANN@example.org,DSL,education\nbob@example.org,,\n", "b.csv")
    summary = import_csv(engine, settings, changed)
    assert outcome(summary) == (0, 0, 2, 0, 0, 0) and summary.differs == 1
    assert get_subscriber(engine, "ann@example.org").role == "Teacher"
    summary = import_csv(engine, settings, changed, update=True)
    assert outcome(summary) == (0, 1, 1, 0, 0, 0)
    ann = get_subscriber(engine, "ann@example.org")
    assert (ann.email, ann.role, ann.sector) == ("ann@example.org", "DSL", "education")
    assert get_subscriber(engine, "bob@example.org").role == "Nurse"  # empty cells keep what is stored


def test_reimporting_never_resubscribes_a_suppressed_address(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    path = write(project, "email\nann@example.org\nbob@example.org\n")
    import_csv(engine, settings, path)
    remove_subscriber(engine, settings, "ann@example.org", reason="asked to stop")
    summary = import_csv(engine, settings, path, update=True)
    assert outcome(summary) == (0, 0, 1, 0, 0, 1)
    assert get_subscriber(engine, "ann@example.org").status == "unsubscribed"


def test_status_column_of_an_old_tool_is_honoured(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    import_csv(engine, settings, write(project, "email\nann@example.org\n"))
    summary = import_csv(
        engine,
        settings,
        write(project, "email,status\nann@example.org,unsubscribed\ncarl@example.org,cleaned\n", "old.csv"),
    )
    assert outcome(summary) == (0, 0, 0, 0, 0, 2)
    assert get_subscriber(engine, "ann@example.org").status == "unsubscribed"
    later = import_csv(engine, settings, write(project, "email\ncarl@example.org\n", "again.csv"))
    assert later.suppressed == 1 and later.new == 0


def test_missing_email_column_names_the_headers(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    path = write(project, "Name,Phone\nA,1\n")
    with pytest.raises(InputError) as caught:
        import_csv(engine, settings, path)
    assert str(caught.value) == (
        f"{path}, line 1: no email column; the header has 'Name', 'Phone'. "
        "Name the column 'email' (or 'Email Address', 'E-mail')"
    )
    path = write(project, "Email,E-mail\na@example.org,b@example.org\n", "two.csv")
    with pytest.raises(InputError) as caught:
        import_csv(engine, settings, path)
    assert "columns 'Email' and 'E-mail' both mean email" in str(caught.value)
    with pytest.raises(InputError) as caught:
        import_csv(engine, settings, write(project, "", "empty.csv"))
    assert "the file is empty" in str(caught.value)


def test_formula_looking_names_are_stored_as_given(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    import_csv(engine, settings, write(project, 'email,first_name\nm@example.org,"=HYPERLINK(""http://x"")"\n'))
    assert get_subscriber(engine, "m@example.org").first_name == '=HYPERLINK("http://x")'


def test_bad_key_contact_and_consent_date_are_row_errors_and_a_bad_topic_is_dropped(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    text = (
        "email,topics,key contact,consent date\n"
        "a@example.org,online-safety;water-safety,yes,01/05/2024\n"
        "b@example.org,astrology,,\n"
        "c@example.org,,maybe,\n"
        "d@example.org,,,next tuesday\n"
    )
    summary = import_csv(engine, settings, write(project, text))
    assert summary.rejects == [
        (4, "key contact 'maybe' is not yes or no"),
        (5, "consent date 'next tuesday' is not a date (use YYYY-MM-DD or DD/MM/YYYY)"),
    ]
    # An unknown topic drops that topic, never the person.
    assert get_subscriber(engine, "b@example.org").topics == []
    (warning,) = summary.warnings
    assert warning.startswith(f"{project / 'list.csv'}: unknown topic 'astrology' left out on line 3 (the people")
    assert "online-safety (Online safety)" in warning
    a = get_subscriber(engine, "a@example.org")
    assert (a.topics, a.key_contact, a.consent_at.date().isoformat()) == (
        ["online-safety", "water-safety"],
        True,
        "2024-05-01",
    )


def test_a_failure_part_way_leaves_the_database_unchanged(engine, settings, project, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    rows = "".join(f"p{n}@example.org\n" for n in range(2500))
    path = write(project, "email\n" + rows)
    calls = {"n": 0}
    from digest.people.csvimport.writer import BatchWriter

    real = BatchWriter.flush

    def failing_flush(self):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        real(self)

    monkeypatch.setattr(BatchWriter, "flush", failing_flush)
    with pytest.raises(RuntimeError):
        import_csv(engine, settings, path)
    assert calls["n"] == 2
    assert count(engine) == 0


def test_duplicates_across_batches_fill_gaps(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    rows = "".join(f"p{n}@example.org,\n" for n in range(1500))
    path = write(project, "email,first_name\n" + rows + "P3@EXAMPLE.ORG,Filled\n")
    summary = import_csv(engine, settings, path)
    assert outcome(summary) == (1500, 0, 0, 1, 0, 0)
    assert get_subscriber(engine, "p3@example.org").first_name == "Filled"


def test_fifty_megabyte_file_with_a_giant_field(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    path = project / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("email,notes\n")
        handle.write("before@example.org,ok\n")
        handle.write('giant@example.org,"' + "x" * (50 * 1024 * 1024) + '"\n')
        handle.write("after@example.org,ok\n")
    assert path.stat().st_size > 50 * 1024 * 1024
    summary = import_csv(engine, settings, path)
    assert summary.rejects == [(3, "a field is longer than 1,000,000 characters")]
    assert summary.new == 2
    assert get_subscriber(engine, "after@example.org").attributes == {"notes": "ok"}


def test_rejects_file_lists_every_rejected_line(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    rows = "".join(f"bad{n}\n" for n in range(250))
    rejects = project / "rejects.csv"
    summary = import_csv(engine, settings, write(project, "email\n" + rows), rejects_file=rejects)
    assert summary.invalid == 250 and len(summary.rejects) == 200
    lines = rejects.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 251 and lines[1].startswith("2,'bad0' is not a valid email address")


def test_import_needs_the_secret_key(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from digest.errors import ConfigError

    with pytest.raises(ConfigError):
        import_csv(engine, replace(settings, secret_key=None), write(project, "email\na@example.org\n"))


def test_nul_characters_are_refused_row_by_row(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    summary = import_csv(engine, settings, write(project, "email,first_name\na@example.org,A\x00B\nb@example.org,B\n"))
    assert summary.rejects == [(2, "contains a NUL character (is it a binary file?)")]
    assert summary.new == 1
