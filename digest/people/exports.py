"""Where files of personal data go: a folder git ignores, or a warning when git would take one.

A subscriber export or an import's rejected rows hold people's addresses and
names. Written into the project folder, which is often a git work tree, one
`git add .` would put them in its history for good. So a bare file name goes
into the project's ``exports/`` folder, which ignores its own contents (a
``.gitignore`` of ``*`` inside it, whatever the project's own says), and a
file named with a folder is written where asked, with a warning when it lies
inside a git work tree and no ignore rule covers it (``git check-ignore``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from digest.config import Settings

EXPORTS = "exports"
GITIGNORE_ALL = "# Written by digest: files here hold personal data and stay out of git.\n*\n"
GIT_TIMEOUT_SECONDS = 10


def export_path(settings: Settings, given: str) -> Path:
    """The file to write: ``exports/<name>`` for a bare name, else the path as given."""
    path = Path(given).expanduser()
    if path.name != given:
        return path
    folder = settings.project_dir / EXPORTS
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text(GITIGNORE_ALL, encoding="utf-8")
    return folder / given


def git_would_take(path: Path) -> str | None:
    """A warning when ``path`` lies in a git work tree and nothing ignores it; None otherwise (or without git)."""
    git = shutil.which("git")
    folder = Path(path).expanduser().resolve().parent
    if git is None or not folder.is_dir():
        return None
    try:
        inside = subprocess.run(
            [git, "-C", str(folder), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
        )
        if inside.returncode != 0:
            return None  # not in a work tree
        ignored = subprocess.run(
            [git, "-C", str(folder), "check-ignore", "-q", "--", str(Path(path).resolve())],
            capture_output=True,
            timeout=GIT_TIMEOUT_SECONDS,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if ignored.returncode != 1:
        return None  # 0: ignored; 128: git could not tell
    return (
        f"{path} holds personal data and is inside the git work tree {inside.stdout.strip()} with no ignore rule "
        f"for it: `git add` would take it. Add it to .gitignore, or give a bare file name to write it into "
        f"{EXPORTS}/, which git ignores"
    )
