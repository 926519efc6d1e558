"""Outside corpora for the corpus tier: found in a cache outside the repository, never in it.

`.ci/run` downloads each corpus (a package's own sdist from PyPI) and unpacks
it into ``$DIGEST_CORPUS_DIR`` (default ``~/.cache/digest-corpus``). Without
it a corpus test skips with one clear reason, except in CI, where it fails.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import require_tool


def corpus_root() -> Path:
    return Path(os.environ.get("DIGEST_CORPUS_DIR") or Path.home() / ".cache" / "digest-corpus").expanduser()


def find_corpus(pattern: str) -> Path:
    """The newest folder matching ``pattern`` (e.g. ``feedparser-*/tests``) in the corpus cache."""
    root = corpus_root()
    found = sorted(root.glob(pattern)) if root.is_dir() else []
    require_tool(
        bool(found), f"no {pattern} under {root}: .ci/run downloads it (set DIGEST_CORPUS_DIR to use another cache)"
    )
    return found[-1]
