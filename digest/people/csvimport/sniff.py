"""Files that are not the CSV they claim to be: workbooks, zips, text in an encoding the header gives away,
and a quote that swallows the rows after it."""

from __future__ import annotations

import codecs
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


# Byte order marks, longest first (UTF-32 LE begins with UTF-16 LE's), and the codec that reads past each.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# What a byte order mark looks like when its file is read in a single-byte encoding (or as UTF-8).
_BOM_GARBLE = ("ÿþ", "þÿ", "ï»¿")


def encoding_from_bom(path: Path) -> str | None:
    """The UTF-16 or UTF-32 encoding a byte order mark at the start of the file announces (Excel's "Unicode
    Text" is UTF-16 LE with one), or None (UTF-8's mark is read by the usual first try, utf-8-sig)."""
    with path.open("rb") as handle:
        head = handle.read(4)
    found = next((codec for bom, codec in _BOMS if head.startswith(bom)), None)
    return None if found == "utf-8-sig" else found


def likely_encoding(path: Path) -> str | None:
    """The encoding the file's first bytes suggest: its byte order mark, or the NUL bytes UTF-16 and
    UTF-32 put beside every ASCII character."""
    with path.open("rb") as handle:
        head = handle.read(400)
    found = next((codec for bom, codec in _BOMS if head.startswith(bom)), None)
    if found is not None:
        return "utf-8" if found == "utf-8-sig" else found
    head = head[: len(head) - len(head) % 4]
    if b"\x00" not in head:
        return None
    units = [head[i : i + 4] for i in range(0, len(head), 4)]
    if sum(unit.endswith(b"\x00\x00\x00") for unit in units) > len(units) / 2:
        return "utf-32-le"
    if sum(unit.startswith(b"\x00\x00\x00") for unit in units) > len(units) / 2:
        return "utf-32-be"
    odd, even = head[1::2].count(0), head[0::2].count(0)
    if odd > len(head) / 4 and odd > 2 * even:
        return "utf-16-le"
    if even > len(head) / 4 and even > 2 * odd:
        return "utf-16-be"
    return None


def garbled_header(header: list[str], path: Path, encoding: str) -> str | None:
    """Why the header, read as ``encoding``, is not text (NUL bytes, a byte order mark read as letters),
    with the encoding that would read it; None when the header looks like text."""
    nul = any("\x00" in cell for cell in header)
    if not nul and not (header and header[0].startswith(_BOM_GARBLE)):
        return None
    what = "NUL bytes" if nul else "a byte order mark read as letters"
    likely = likely_encoding(path)
    if likely:
        advice = (
            f'it looks like {likely.upper()} text (Excel\'s "Unicode Text" is UTF-16); '
            f"import it with --encoding {likely}"
        )
    else:
        advice = 'save it as "CSV UTF-8" and import that file, or name its encoding with --encoding'
    return f"the header is not readable as {encoding} (it holds {what}); {advice}"


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
