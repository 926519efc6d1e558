"""`digest send --at`: a time in the past is refused, one far ahead is asked again (issue 21, item 2)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from digest.errors import InputError
from digest.store import db

LONDON = ZoneInfo("Europe/London")


def sends(engine) -> list[tuple[str, object]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.select(db.sends.c.state, db.sends.c.scheduled_at))]


def test_at_in_the_past_is_refused_saying_how_it_was_read_and_nothing_is_sent(  # type: ignore[no-untyped-def]
    invoke, engine, audience, project: Path
) -> None:
    result = invoke("send", "2025-04-10", "--segment", "everyone", "--at", "2025-11-30 08:00", "--yes")
    assert result.exit_code == 1, result.output
    assert re.fullmatch(
        r"Error: --at 2025-11-30 08:00 reads as Sunday 30 November 2025, 08:00 GMT \(Europe/London\), which is in "
        r"the past: it is now \w+day \d+ \w+ \d{4}, \d\d:\d\d (GMT|BST) there\. To send now, leave out --at; to "
        r"schedule, give a time still to come\.\n",
        result.output,
    ), result.output
    assert sends(engine) == []
    assert not (project / "outbox").exists()


def test_at_more_than_sixty_days_ahead_asks_again(invoke, engine, audience) -> None:  # type: ignore[no-untyped-def]
    day = date.today() + timedelta(days=100)
    at = f"{day.isoformat()} 08:00"
    said_no = invoke("send", "2025-04-10", "--segment", "everyone", "--at", at, input="n\n")
    assert said_no.exit_code == 1
    assert f"--at {at} reads as {day:%A} {day.day} {day:%B %Y}, 08:00" in said_no.output
    assert "days from now. Schedule it that far ahead? [y/N]: n\nAborted!\n" in said_no.output
    assert sends(engine) == []

    said_yes = invoke("send", "2025-04-10", "--segment", "everyone", "--at", at, input="y\ny\n")
    assert said_yes.exit_code == 0, said_yes.output
    assert "Scheduled send #1 for" in said_yes.output
    assert [state for state, _ in sends(engine)] == ["scheduled"]


def test_yes_schedules_far_ahead_without_asking_but_says_so(invoke, engine, audience) -> None:  # type: ignore[no-untyped-def]
    result = invoke("send", "2025-04-10", "--segment", "everyone", "--at", "2099-04-14 08:00", "--yes")
    assert result.exit_code == 0, result.output
    assert re.search(
        r"Warning: --at 2099-04-14 08:00 reads as Tuesday 14 April 2099, 08:00 BST \(Europe/London\), [\d,]+ days "
        r"from now\.\n",
        result.stderr,
    ), result.stderr
    assert [state for state, _ in sends(engine)] == ["scheduled"]


def test_the_check_refuses_a_time_the_clocks_skip_and_passes_a_near_one() -> None:
    from digest.sending.schedule import check_send_time

    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with pytest.raises(InputError, match=r"2026-03-29 01:30 does not exist in Europe/London: the clocks go forward"):
        check_send_time(datetime(2026, 3, 29, 1, 30, tzinfo=LONDON), now=now)
    assert check_send_time(datetime(2026, 3, 2, 8, 0, tzinfo=LONDON), now=now) == ""
    assert check_send_time(datetime(2026, 4, 30, 8, 0, tzinfo=LONDON), now=now) == ""  # 60 days: not yet far
    assert "61 days from now" in check_send_time(datetime(2026, 5, 1, 13, 0, tzinfo=LONDON), now=now)
    with pytest.raises(InputError, match="in the past"):
        check_send_time(datetime(2026, 3, 1, 12, 0, tzinfo=LONDON), now=now)  # this very minute is past


@pytest.mark.parametrize(
    ("written", "now", "expected"),
    [
        # Friday 4 December 2026, 10:00 in London: "Monday 08:00" is the Monday to come.
        ("Monday 08:00", datetime(2026, 12, 4, 10, 0, tzinfo=UTC), datetime(2026, 12, 7, 8, 0, tzinfo=LONDON)),
        ("mon 08:00", datetime(2026, 12, 4, 10, 0, tzinfo=UTC), datetime(2026, 12, 7, 8, 0, tzinfo=LONDON)),
        # On a Monday before 08:00 it is today; after, the Monday a week on.
        ("Monday 08:00", datetime(2026, 12, 7, 7, 0, tzinfo=UTC), datetime(2026, 12, 7, 8, 0, tzinfo=LONDON)),
        ("Monday 08:00", datetime(2026, 12, 7, 9, 0, tzinfo=UTC), datetime(2026, 12, 14, 8, 0, tzinfo=LONDON)),
        # In summer time the hour is London's, not UTC's.
        ("Monday 08:00", datetime(2026, 6, 5, 12, 0, tzinfo=UTC), datetime(2026, 6, 8, 7, 0, tzinfo=UTC)),
        ("2026-12-07 08:00", datetime(2026, 12, 4, 10, 0, tzinfo=UTC), datetime(2026, 12, 7, 8, 0, tzinfo=LONDON)),
    ],
)
def test_at_reads_a_date_or_the_next_such_weekday(written: str, now: datetime, expected: datetime) -> None:
    from digest.sending import parse_send_time

    assert parse_send_time(written, "Europe/London", now=now) == expected


@pytest.mark.parametrize("written", ["Monday", "Mo 08:00", "Moonday 08:00", "Monday 8am", "30/11/2026 08:00", ""])
def test_at_written_otherwise_is_refused_with_both_forms(written: str) -> None:
    from digest.sending import parse_send_time

    with pytest.raises(InputError) as caught:
        parse_send_time(written, "Europe/London")
    assert "'YYYY-MM-DD HH:MM', or a weekday and a time, 'Monday 08:00'" in str(caught.value)


def test_a_weekday_schedules_a_send_still_to_come(invoke, engine, audience) -> None:  # type: ignore[no-untyped-def]
    result = invoke("send", "2025-04-10", "--segment", "everyone", "--at", "Monday 08:00", "--yes")
    assert result.exit_code == 0, result.output
    ((state, when),) = sends(engine)
    local = when.astimezone(LONDON)
    assert state == "scheduled" and when > datetime.now(UTC)
    assert (local.strftime("%A %H:%M"), (local - datetime.now(UTC)).days < 7) == ("Monday 08:00", True)
