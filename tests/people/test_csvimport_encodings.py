"""Encodings spreadsheets save in: Excel's "Unicode Text" (UTF-16 LE with a BOM, tab-separated), UTF-32,
and a header that is the wrong encoding's garble, answered with the encoding that would read it."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from digest.errors import InputError
from digest.people.csvimport import import_csv
from digest.people.subscribers import get_subscriber

ROWS = "Email\tFirst name\tLast name\tOrganisation\r\nzoe.muller@example.org\tZoë\tMüller\tSt Æthelred’s\r\n"


def _write(project: Path, data: bytes) -> Path:
    path = project / "unicode-text.txt"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("bom", "codec"),
    [
        (codecs.BOM_UTF16_LE, "utf-16-le"),  # Excel: Save As → Unicode Text (*.txt)
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
    ],
)
def test_a_file_with_a_byte_order_mark_is_read_in_its_encoding(
    engine, settings, project, bom: bytes, codec: str
) -> None:  # type: ignore[no-untyped-def]
    summary = import_csv(engine, settings, _write(project, bom + ROWS.encode(codec)))
    assert (summary.new, summary.invalid) == (1, 0)
    zoe = get_subscriber(engine, "zoe.muller@example.org")
    assert (zoe.first_name, zoe.last_name, zoe.organisation) == ("Zoë", "Müller", "St Æthelred’s")
    assert summary.encoding == codec.split("-")[0] + "-" + codec.split("-")[1]  # utf-16 / utf-32
    assert summary.warnings == []


@pytest.mark.parametrize(
    ("data", "encoding", "advice"),
    [
        # UTF-16 read as Windows-1252 (what --encoding cp1252 does): "ÿþE\x00m\x00…".
        (codecs.BOM_UTF16_LE + ROWS.encode("utf-16-le"), "cp1252", "--encoding utf-16"),
        # UTF-16 without its BOM: every other byte is NUL.
        (ROWS.encode("utf-16-le"), None, "--encoding utf-16-le"),
        (ROWS.encode("utf-16-be"), None, "--encoding utf-16-be"),
        (codecs.BOM_UTF32_LE + ROWS.encode("utf-32-le"), "latin-1", "--encoding utf-32"),
    ],
)
def test_a_garbled_header_is_answered_with_the_likely_encoding(  # type: ignore[no-untyped-def]
    engine, settings, project, data: bytes, encoding: str | None, advice: str
) -> None:
    with pytest.raises(InputError) as caught:
        import_csv(engine, settings, _write(project, data), encoding=encoding)
    message = str(caught.value)
    assert advice in message
    assert "Name the column" not in message


def test_the_advised_encoding_then_reads_the_file(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    path = _write(project, ROWS.encode("utf-16-le"))
    summary = import_csv(engine, settings, path, encoding="utf-16-le")
    assert summary.new == 1
    assert get_subscriber(engine, "zoe.muller@example.org").first_name == "Zoë"
