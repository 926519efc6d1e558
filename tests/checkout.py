"""A copy of this checkout as git sees it, for tests that work on the project's own files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import REPO


def source_copy(target: Path) -> Path:
    """The checkout's files as git sees them (tracked, or new and not ignored), without build leftovers:
    setuptools builds in the source folder, and a stale build/ would leak old files into the wheel."""
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target
