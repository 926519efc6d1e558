"""Files that are not the CSV they claim to be: workbooks, zips, and a quote that swallows the rows after it."""

from __future__ import annotations

import csv
import itertools
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

from digest.errors import InputError

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the old binary Office format (.xls)
_ZIP_MAGIC = b"PK\x03\x04"  # .xlsx, .ods and plain zip archives
_EMAIL_LIKE = re.compile(r"^[^\s@,;\"]+@[^\s@,;\"]+\.[^\s@,;\"]+$")
SAVE_AS_CSV = (
    "open it in your spreadsheet program and save it with File → Save As → 'CSV UTF-8 (Comma delimited) (*.csv)' "
    "(LibreOffice: 'Text CSV', character set UTF-8), then import that file"
)


def refuse_non_csv(path: Path) -> None:
    """Refuse a workbook or an archive given as CSV, saying what it is and how to make a CSV of it."""
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(_OLE_MAGIC):
        raise InputError(f"this is an Excel workbook (.xls), not CSV text; {SAVE_AS_CSV}", path=path)
    if not head.startswith(_ZIP_MAGIC):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            mimetype = archive.read("mimetype").decode("ascii", "replace") if "mimetype" in names else ""
    except (zipfile.BadZipFile, OSError, KeyError):
        names, mimetype = [], ""
    if "opendocument.spreadsheet" in mimetype:
        raise InputError(f"this is an OpenDocument spreadsheet (.ods), not CSV text; {SAVE_AS_CSV}", path=path)
    if any(name.startswith("xl/") for name in names):
        raise InputError(f"this is an Excel workbook (.xlsx), not CSV text; {SAVE_AS_CSV}", path=path)
    csvs = [name for name in names if name.lower().endswith(".csv")]
    if csvs:
        raise InputError(
            f"this is a zip archive holding {', '.join(csvs[:4])}{'…' if len(csvs) > 4 else ''} "
            "(Mailchimp's audience export comes like this); unzip it and import each CSV file",
            path=path,
        )
    raise InputError("this is a zip archive or a workbook, not CSV text; " + SAVE_AS_CSV, path=path)


def swallowed_row(
    cells: Sequence[str], start: int, delimiter: str, email_index: int, columns: int
) -> tuple[int, str] | None:
    """The first line inside a cell that looks like a row of the file: (line number, text), or None.

    A quote that is opened and never closed makes the CSV reader take every
    following line into one cell, so a file of 200 people imports as one
    person with a very long name. A legitimate multi-line cell (an address,
    a note) does not hold lines that look like rows: as many fields as a row
    has (at least two) with an address in the email column.
    """
    wanted = min(columns, 2)
    line = start
    for cell in cells:
        parts = cell.splitlines()
        for offset, text in enumerate(parts[1:], start=1):
            fields = text.split(delimiter)
            if (
                len(fields) >= wanted
                and len(fields) > email_index
                and _EMAIL_LIKE.match(fields[email_index].strip().strip('"'))
            ):
                return line + offset, text
        line += max(len(parts) - 1, 0)
    return None


def quote_open_at_end(path: Path, encoding: str, delimiter: str, start: int) -> bool:
    """Whether the row that starts on line ``start`` runs to the end of the file inside an open quote."""
    with path.open("r", encoding=encoding, newline="") as handle:
        tail = itertools.islice(handle, start - 1, None)
        try:
            for _ in csv.reader(tail, delimiter=delimiter, strict=True):
                pass
        except csv.Error as exc:
            return "unexpected end of data" in str(exc)
    return False
