"""Bytes of a text file → text, whatever the editor's tool saved it as."""

from __future__ import annotations

from digest.errors import InputError


def decode_text(data: bytes, origin: str) -> tuple[str, list[str]]:
    """UTF-8 (with or without BOM), falling back to Windows-1252 with a warning."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
        warnings: list[str] = []
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise InputError(f"neither UTF-8 nor Windows-1252 text ({exc})", path=origin) from None
        warnings = [f"{origin}: not UTF-8; read as Windows-1252"]
    if "\x00" in text:
        raise InputError("contains NUL bytes; is it a binary file?", path=origin)
    return text.replace("\r\n", "\n").replace("\r", "\n"), warnings
