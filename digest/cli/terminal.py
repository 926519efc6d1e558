"""What the CLI writes, cleaned of terminal control sequences in one place.

Titles, names, reasons and file names come from outside (feeds, exports,
web forms, bounce messages) and can hold escape sequences: ``ESC ] 0 ;`` sets
the window title, OSC 8 writes a link whose text hides its address,
``ESC [ 2 J`` clears the screen. For as long as a command runs
(:meth:`digest.cli.base.DigestGroup.main`), standard output and standard
error are :class:`CleanStream` objects: every control character but newline
and tab reaches the terminal as a visible escape (``\\x1b``), whichever
command, message or error wrote it. The one carriage return the CLI means is
the one that redraws a progress line (:func:`redraw`).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from digest.people.plaintext import for_terminal


class CleanStream(io.TextIOBase):
    """A text stream that shows control characters (but newline and tab) as escapes before writing them on."""

    def __init__(self, stream: TextIO) -> None:
        self.unfiltered = stream

    def write(self, text: str) -> int:
        self.unfiltered.write(for_terminal(text, layout=True))
        return len(text)

    def flush(self) -> None:
        self.unfiltered.flush()

    def isatty(self) -> bool:
        return self.unfiltered.isatty()

    def fileno(self) -> int:
        return self.unfiltered.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.unfiltered, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.unfiltered, "errors", None)


@contextmanager
def cleaned_output(stdout: TextIO | None = None, stderr: TextIO | None = None) -> Iterator[None]:
    """Standard output and error (or the streams given) cleaned, until the block ends."""
    saved = sys.stdout, sys.stderr
    sys.stdout = CleanStream(stdout or sys.stdout)
    sys.stderr = CleanStream(stderr or sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def redraw(text: str) -> None:
    """Write ``text`` (cleaned) over the current line of standard error: a progress line."""
    stream = sys.stderr
    target = stream.unfiltered if isinstance(stream, CleanStream) else stream
    target.write("\r" + for_terminal(text))
    target.flush()
