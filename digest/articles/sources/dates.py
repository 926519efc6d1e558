"""Feed dates feedparser cannot read: other languages' RFC 822, numeric and spelled-out forms.

feedparser reads RFC 822 in English and ISO 8601. Publishers also write
``Seg, 24 Set 2018 19:42:40 -0300`` (Portuguese), ``Fri, 05/03/2019 - 15:21``
(Drupal's default), ``22.11.2022 12:16:00`` or ``Friday, January 29, 2021
04:42 PM``. Those go to dateparser, which knows the month and day names of
some 200 locales. Only whole calendar dates count: relative words ("yesterday")
and partial dates ("2019"), which dateparser would complete from today's
date, are refused, so a date that cannot be read is never today's.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

# dateparser settles on a feed's language after the first date and reads the rest quickly
# (milliseconds each), but trying every language on text that is no date takes tens of
# milliseconds: a hostile feed of garbage dates is cut short after this many distinct tries.
MAX_TRIES = 1000
MAX_LENGTH = 80  # longer text is no date

_SETTINGS = {
    "PARSERS": ["custom-formats", "absolute-time"],
    "REQUIRE_PARTS": ["day", "month", "year"],
}
# 05/03/2019 is 5 March in Britain and most of the world, 3 May in the USA: ambiguous unless a
# weekday beside it, or the feed's language, says which.
_NUMERIC_RE = re.compile(r"(?<!\d)(\d{1,2})[./-](\d{1,2})[./-](\d{2}|\d{4})(?!\d)")
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_RE = re.compile(r"\b(mon|tue|wed|thu|fri|sat|sun)[a-z]*\b", re.IGNORECASE)


class DateReader:
    """Reads the written dates of one feed; :meth:`read` gives None for text that is no whole date."""

    def __init__(self, language: str = "") -> None:
        # Only the USA writes the month first; a feed that says nothing is read the British way.
        self.month_first = language.lower().replace("_", "-").startswith("en-us")
        self.tries = 0
        self._parsers: dict[str, Any] = {}
        self._seen: dict[str, datetime | None] = {}

    @property
    def exhausted(self) -> bool:
        """Whether the feed used up its tries (a hostile feed): later dates are left unread."""
        return self.tries >= MAX_TRIES

    def read(self, text: str) -> datetime | None:
        """The moment ``text`` names (aware when it gives an offset), or None."""
        text = " ".join(text.split())
        if not text or len(text) > MAX_LENGTH or not re.search(r"\d", text):
            return None
        if text in self._seen:
            return self._seen[text]
        if self.exhausted:
            return None
        self.tries += 1
        found = self._parse(text)
        self._seen[text] = found
        return found

    def _parse(self, text: str) -> datetime | None:
        numeric = _NUMERIC_RE.search(text)
        if numeric is None or numeric.group(1) == numeric.group(2) or max(map(int, numeric.group(1, 2))) > 12:
            return self._with_order(text, "")
        day_first, month_first = self._with_order(text, "DMY"), self._with_order(text, "MDY")
        weekday = _WEEKDAY_RE.search(text)
        if weekday is not None:
            wanted = _WEEKDAYS.index(weekday.group(1).lower())
            for candidate in (day_first, month_first):
                if candidate is not None and candidate.weekday() == wanted:
                    return candidate
        return month_first if self.month_first else day_first

    def _with_order(self, text: str, order: str) -> datetime | None:
        parser = self._parsers.get(order)
        if parser is None:
            from dateparser.date import DateDataParser  # loads its language data: only when needed

            settings = dict(_SETTINGS, **({"DATE_ORDER": order} if order else {}))
            parser = self._parsers[order] = DateDataParser(settings=settings, try_previous_locales=True)
        try:
            found = parser.get_date_data(text).date_obj
        except (ValueError, OverflowError, TypeError):
            return None
        return found if isinstance(found, datetime) else None


def day_of(moment: datetime, zone: Any) -> date:
    """The organisation's day of a moment: aware moments move to ``zone``, naive ones are taken as written."""
    return moment.astimezone(zone).date() if moment.tzinfo is not None else moment.date()
