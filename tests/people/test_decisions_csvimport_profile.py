"""One imported row in detail: the cells it may leave out, how a full name fills in, the limits on a field,
the consent evidence and status evidence written to the history, and the warnings the admin reads.

The files are written here in the shapes the tools produce (a spreadsheet that drops trailing empty
cells, Mailchimp's audience exports with a merge field of the owner's own, a CRM export).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from digest.errors import InputError
from digest.people.csvimport import MAX_EVIDENCE, MAX_PROFILE_FIELD, import_csv, parse_consent_date
from digest.people.subscribers import get_subscriber, history

MAILCHIMP_SUBSCRIBED = "subscribed_members_export_8d1e2f.csv"
MAILCHIMP_UNSUBSCRIBED = "unsubscribed_members_export_8d1e2f.csv"
MAILCHIMP_CLEANED = "cleaned_members_export_8d1e2f.csv"


def write(project: Path, text: str, name: str = "list.csv") -> Path:
    path = project / name
    path.write_bytes(text.replace("\n", "\r\n").encode("utf-8"))
    return path


def only_detail(engine: Any, address: str) -> str:
    (entry,) = history(engine, get_subscriber(engine, address).id)
    return entry.detail


# --- cells and names --------------------------------------------------------------------------------


def test_a_row_a_spreadsheet_cut_short_leaves_the_missing_cells_empty(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    # Spreadsheets save a row without its trailing empty cells.
    text = "email,first_name,last_name,organisation\nann@example.org,Ann\nbo@example.org,Bo,Cole,Eastgate Academy\n"
    summary = import_csv(engine, settings, write(project, text))
    assert (summary.new, summary.invalid) == (2, 0)
    ann = get_subscriber(engine, "ann@example.org")
    assert (ann.first_name, ann.last_name, ann.organisation) == ("Ann", "", "")
    bo = get_subscriber(engine, "bo@example.org")
    assert (bo.first_name, bo.last_name, bo.organisation) == ("Bo", "Cole", "Eastgate Academy")


def test_a_row_cut_short_just_before_a_kept_column_still_imports(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    # The first missing cell is a column kept as an attribute (Phase), or as evidence (CLEAN_TIME).
    text = "email,first_name,phase\nann@example.org,Ann\nbo@example.org,Bo,primary\n"
    summary = import_csv(engine, settings, write(project, text))
    assert (summary.new, summary.invalid) == (2, 0)
    assert get_subscriber(engine, "ann@example.org").attributes == {}
    assert get_subscriber(engine, "bo@example.org").attributes == {"phase": "primary"}
    cleaned = CLEANED_HEADER + "pat@example.org,Pat,Lowe,1,,,2021-02-02 09:00:00,\n"
    summary = import_csv(engine, settings, write(project, cleaned, MAILCHIMP_CLEANED))
    assert (summary.invalid, summary.rejects) == (0, [])
    assert only_detail(engine, "pat@example.org").startswith("line 2: Mailchimp's cleaned audience export")


def test_the_deliverability_check_is_made_only_when_asked(engine, settings, project, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # The DNS is faked at the network boundary: dnspython's default resolver (which
    # email-validator asks) is pointed at a server on 127.0.0.1 that knows one mail domain.
    import dns.resolver

    from tests.fakes import dns as fake_dns

    text = "email\nann@eastgate.example.org\nbo@closed.example.org\n"
    path = write(project, text)
    with fake_dns.serving(fake_dns.mail_domains({"eastgate.example.org": "mx.eastgate.example.org"})) as served:
        monkeypatch.setattr(dns.resolver, "default_resolver", served.resolver)
        asked = import_csv(engine, settings, path, check_deliverability=True)
        assert asked.new == 1
        assert get_subscriber(engine, "ann@eastgate.example.org") is not None
        ((line, reason),) = asked.rejects
        assert line == 3 and "'bo@closed.example.org' is not a valid email address" in reason
        assert "closed.example.org does not exist" in reason
        assert import_csv(engine, settings, path).new == 1  # not asked: the address is only read


def test_a_full_name_merge_field_is_used_only_when_both_name_fields_are_empty(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    # A Mailchimp audience whose owner added a "Full Name" merge field beside First Name and Last Name.
    text = (
        "\ufeffEmail Address,First Name,Last Name,Full Name,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,"
        "CONFIRM_IP,LEID,EUID\n"
        "ann@example.org,Ann,,Ann Lee,2,2024-03-04 09:12:44,,,,101,a1\n"
        "dana@example.org,,Lee,Dana Lee,2,2024-03-04 09:12:44,,,,102,a2\n"
        "bea@example.org,,,Bea Cole,2,2024-03-04 09:12:44,,,,103,a3\n"
        "cy@example.org,Cy,Park,Cyrus Park,2,2024-03-04 09:12:44,,,,104,a4\n"
    )
    summary = import_csv(engine, settings, write(project, text, MAILCHIMP_SUBSCRIBED))
    assert (summary.new, summary.invalid) == (4, 0)
    names = {
        address: (get_subscriber(engine, address).first_name, get_subscriber(engine, address).last_name)
        for address in ("ann@example.org", "dana@example.org", "bea@example.org", "cy@example.org")
    }
    assert names == {
        "ann@example.org": ("Ann", ""),
        "dana@example.org": ("", "Lee"),
        "bea@example.org": ("Bea", "Cole"),
        "cy@example.org": ("Cy", "Park"),
    }


def test_a_profile_field_may_hold_300_characters_and_no_more(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    assert MAX_PROFILE_FIELD == 300
    longest, too_long = "A" * 300, "B" * 301
    text = f"email,organisation\nfits@example.org,{longest}\nover@example.org,{too_long}\n"
    summary = import_csv(engine, settings, write(project, text))
    assert get_subscriber(engine, "fits@example.org").organisation == longest
    assert summary.rejects == [(3, "organisation is longer than 300 characters")]


def test_a_consent_wording_column_is_kept_for_each_person_and_the_imports_wording_fills_gaps(
    engine, settings, project
) -> None:  # type: ignore[no-untyped-def]
    text = "email,consent wording\nann@example.org,Ticked the box at the DSL conference 2024\nbo@example.org,\n"
    import_csv(engine, settings, write(project, text), consent_text="Signed the paper form")
    assert get_subscriber(engine, "ann@example.org").consent_text == "Ticked the box at the DSL conference 2024"
    assert get_subscriber(engine, "bo@example.org").consent_text == "Signed the paper form"


def test_tags_naming_no_topic_are_kept_together_as_one_attribute(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    text = 'email,tags\nann@example.org,"Governors, Ofsted inspections, Online safety"\n'
    import_csv(engine, settings, write(project, text))
    ann = get_subscriber(engine, "ann@example.org")
    assert ann.topics == ["online-safety"]
    assert ann.attributes == {"tags": "Governors; Ofsted inspections"}


# --- status and its evidence --------------------------------------------------------------------------


def test_a_status_the_import_does_not_know_is_refused_naming_those_it_knows(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    summary = import_csv(engine, settings, write(project, "email,status\nann@example.org,paused\n"))
    assert summary.rejects == [
        (
            2,
            "status 'paused' is not one of subscribed, unsubscribed, cleaned, bounced, complained, "
            "non-subscribed (or listmonk's enabled, disabled, blocklisted)",
        )
    ]


CLEANED_HEADER = (
    "\ufeffEmail Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,"
    "CLEAN_TIME,CLEAN_CAMPAIGN_TITLE,CLEAN_CAMPAIGN_ID,LEID,EUID\n"
)


def test_a_status_from_the_files_layout_cites_the_rows_evidence_when_it_has_some(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    text = CLEANED_HEADER + (
        'grace@example.org,Grace,Okafor,3,,,2024-06-01 19:47:31,,2025-04-07 06:10:44,"SAFE Newsfeed, 7 April",9a8b,103,c3\n'
        "pat@example.org,Pat,Lowe,1,,,2021-02-02 09:00:00,,,,,301,9f\n"
    )
    import_csv(engine, settings, write(project, text, MAILCHIMP_CLEANED))
    layout = (
        "Mailchimp's cleaned audience export, of addresses that bounced, known by the CLEAN_TIME, "
        "CLEAN_CAMPAIGN_TITLE, CLEAN_CAMPAIGN_ID columns"
    )
    assert only_detail(engine, "grace@example.org") == (
        f"line 2: {layout}; CLEAN_TIME '2025-04-07 06:10:44', CLEAN_CAMPAIGN_TITLE 'SAFE Newsfeed, 7 April', "
        "CLEAN_CAMPAIGN_ID '9a8b'"
    )
    assert only_detail(engine, "pat@example.org") == f"line 3: {layout}"


UNSUBSCRIBED_HEADER = (
    "\ufeffEmail Address,First Name,MEMBER_RATING,OPTIN_TIME,CONFIRM_TIME,UNSUB_TIME,UNSUB_CAMPAIGN_TITLE,"
    "UNSUB_CAMPAIGN_ID,UNSUB_REASON,UNSUB_REASON_OTHER,LEID,EUID\n"
)


def test_evidence_is_kept_up_to_200_characters_and_cut_with_an_ellipsis_beyond(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    assert MAX_EVIDENCE == 200
    fits = ("Moved to a new school; please write to the new DSL instead " * 4)[:200].strip() + "."
    fits = fits + "x" * (200 - len(fits))
    too_long = "Left the trust at the end of term and the role is now shared between two deputies " * 3
    assert len(fits) == 200 and len(" ".join(too_long.split())) > 200
    text = UNSUBSCRIBED_HEADER + (
        f"ann@example.org,Ann,2,,2023-01-01 10:00:00,2025-03-02 18:20:05,,,Other,{fits}\n"
        f"bo@example.org,Bo,2,,2023-01-01 10:00:00,2025-03-02 18:20:05,,,Other,{too_long},,\n"
    )
    import_csv(engine, settings, write(project, text, MAILCHIMP_UNSUBSCRIBED))
    assert only_detail(engine, "ann@example.org").endswith(f"UNSUB_REASON 'Other', UNSUB_REASON_OTHER {fits!r}")
    cut = " ".join(too_long.split())[:199] + "…"
    assert only_detail(engine, "bo@example.org").endswith(f"UNSUB_REASON 'Other', UNSUB_REASON_OTHER {cut!r}")


# --- consent and its evidence ---------------------------------------------------------------------------


def test_consent_evidence_names_each_column_it_came_from(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    text = "email,date subscribed\nann@example.org,2024-05-01\nbo@example.org,\n"
    import_csv(engine, settings, write(project, text))
    assert only_detail(engine, "ann@example.org") == (
        "import: list.csv, line 2: a spreadsheet or CRM export; consent: date subscribed 2024-05-01"
    )
    assert only_detail(engine, "bo@example.org") == "import: list.csv, line 3: a spreadsheet or CRM export"


def test_a_confirmation_ip_without_its_time_is_still_evidence(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    text = (
        "\ufeffEmail Address,First Name,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LEID,EUID\n"
        "ann@example.org,Ann,2,2024-03-04 09:12:44,198.51.100.23,,198.51.100.24,101,a1\n"
        "bo@example.org,Bo,2,2024-03-04 09:12:44,,,,102,a2\n"
    )
    import_csv(engine, settings, write(project, text, MAILCHIMP_SUBSCRIBED))
    prefix = f"import: {MAILCHIMP_SUBSCRIBED}, line"
    assert only_detail(engine, "ann@example.org") == (
        f"{prefix} 2: Mailchimp's subscribed audience export; consent: from CONFIRM_IP '198.51.100.24'; "
        "OPTIN_TIME 2024-03-04 09:12:44 from OPTIN_IP '198.51.100.23'"
    )
    assert only_detail(engine, "bo@example.org") == (
        f"{prefix} 3: Mailchimp's subscribed audience export; consent: OPTIN_TIME 2024-03-04 09:12:44"
    )
    ann = get_subscriber(engine, "ann@example.org")
    assert ann.consent_at == datetime(2024, 3, 4, 9, 12, 44, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
        ("2024-05-01T10:20:30Z", datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC)),  # listmonk, APIs
        ("2024-06-01T10:00:00+01:00", datetime(2024, 6, 1, 9, 0, tzinfo=UTC)),  # British Summer Time
        ("2024-05-01 10:20:30", datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC)),  # naive: taken as UTC
        ("01/05/2024 10:20:30", datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC)),  # a UK spreadsheet
        ("01/05/2024 10:20", datetime(2024, 5, 1, 10, 20, tzinfo=UTC)),
        ("01/05/2024", datetime(2024, 5, 1, tzinfo=UTC)),
        ("01-05-2024", datetime(2024, 5, 1, tzinfo=UTC)),
        ("  ", None),
    ],
)
def test_consent_dates_in_the_shapes_exports_write(text: str, moment: datetime | None) -> None:
    assert parse_consent_date(text) == moment


def test_a_consent_date_that_is_no_date_says_how_to_write_one() -> None:
    with pytest.raises(InputError) as caught:
        parse_consent_date("05/13/2024")  # American order: there is no thirteenth month
    assert str(caught.value) == "consent date '05/13/2024' is not a date (use YYYY-MM-DD or DD/MM/YYYY)"


# --- the warnings -----------------------------------------------------------------------------------------


def test_unknown_topics_are_reported_once_each_with_their_first_ten_lines(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    topics = ["astrology"] * 11 + ["tarot"] * 10 + ["runes"] * 2 + ["palmistry"]
    rows = "".join(f"p{n}@example.org,{topic}\n" for n, topic in enumerate(topics))
    path = write(project, "email,topics\n" + rows)
    summary = import_csv(engine, settings, path)
    assert summary.new == len(topics)
    said = [warning.split(" (the people were imported)")[0] for warning in summary.warnings]
    assert said == [
        f"{path}: unknown topic 'astrology' left out on lines 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 …",
        f"{path}: unknown topic 'tarot' left out on lines 13, 14, 15, 16, 17, 18, 19, 20, 21, 22",
        f"{path}: unknown topic 'runes' left out on lines 23, 24",
        f"{path}: unknown topic 'palmistry' left out on line 25",
    ]
    assert all("(the people were imported); topics are " in warning for warning in summary.warnings)
