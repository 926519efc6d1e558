"""A small cache on disk for work whose result depends only on its input: inlined email HTML, compiled templates.

Inlining an issue's HTML with premailer costs a cold process about 150 ms
(importing premailer and cssutils, then cssutils compiling its grammar on
first use) and gives the same bytes for the same HTML every time; Jinja's
compiled templates likewise. Entries are named by a hash of everything that
decides them, so a changed input, option or library version is simply a
different entry, never a stale one. The cache is a help, not a store:
anything that goes wrong with it (a read-only home, a full disk, a damaged
entry) means the work is done again, never an error.

Where: ``DIGEST_CACHE_DIR``, else ``$XDG_CACHE_HOME/digest``, else
``~/.cache/digest``; ``DIGEST_CACHE_DIR=off`` turns it off.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

MAX_ENTRIES = 500  # inlined emails kept; the oldest go first


@cache
def cache_dir() -> Path | None:
    """The cache folder (made if need be), or None when it is off or cannot be made."""
    chosen = os.environ.get("DIGEST_CACHE_DIR", "")
    if chosen.lower() == "off":
        return None
    if chosen:
        folder = Path(chosen)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        folder = Path(base) / "digest"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder


def cached_text(kind: str, key: Iterable[str], make: Callable[[], str]) -> str:
    """``make()``, or what it gave before for the same ``kind`` and ``key``."""
    folder = cache_dir()
    if folder is None:
        return make()
    digest = hashlib.sha256()
    for part in key:
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    entry = folder / kind / f"{digest.hexdigest()}.txt"
    try:
        check, _, text = entry.read_text(encoding="utf-8").partition("\n")
        if check == _checksum(text):  # an entry damaged on disk is no entry
            return text
    except (OSError, UnicodeDecodeError):
        pass
    text = make()
    _store(entry, text)
    return text


def _checksum(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _store(entry: Path, text: str) -> None:
    try:
        entry.parent.mkdir(exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=entry.parent, delete=False) as handle:
            handle.write(f"{_checksum(text)}\n{text}")
        os.replace(handle.name, entry)  # whole or not at all: a reader never sees half an entry
        _trim(entry.parent)
    except OSError:
        pass


def _trim(folder: Path) -> None:
    entries = sorted(folder.glob("*.txt"), key=lambda path: path.stat().st_mtime)
    for old in entries[:-MAX_ENTRIES]:
        old.unlink(missing_ok=True)
