"""Outside corpora for the corpus tier: found in a cache outside the repository, never in it.

`.ci/run` downloads each corpus (a package's own sdist from PyPI) and unpacks
it into ``$DIGEST_CORPUS_DIR`` (default ``~/.cache/digest-corpus``). Without
it a corpus test skips with one clear reason, except in CI (DIGEST_CI=1), where
it fails.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import CORPUS_CACHE, need_corpus


def corpus_root() -> Path:
    return CORPUS_CACHE


def find_corpus(pattern: str) -> Path:
    """The newest folder matching ``pattern`` (e.g. ``feedparser-*/tests``) in the corpus cache."""
    root = corpus_root()
    found = sorted(root.glob(pattern)) if root.is_dir() else []
    if not found:
        need_corpus(root / pattern, f"{pattern} (downloaded by .ci/run)")
    return found[-1]
