"""Corpus tier: every document of feedparser's own test corpus through our feed reader.

The corpus is the feedparser sdist's tests/ folder (about 2,240 feeds written
to exercise every quirk feedparser knows), downloaded by `.ci/run` into a
cache outside the repository. Each document is read in a worker process with
a time budget, so a hang is caught and counted rather than stalling the suite.
What must hold: no traceback (a document is either read or refused with an
InputError), no hang, and no entity text (``&#8217;``, ``&amp;``…) in any title.
"""

from __future__ import annotations

import multiprocessing
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.corpus import find_corpus

PER_FILE_SECONDS = 10.0
ENTITY_TEXT = re.compile(r"&(?:#\d+|#x[0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
TAG_TEXT = re.compile(r"</?[A-Za-z][^<>]*>")


def read_one(path: str) -> tuple[str, Any, float]:
    """('read', titles) | ('refused', reason) | ('traceback', text), with the seconds it took."""
    import traceback

    from digest.articles.sources import parse_feed
    from digest.errors import InputError

    start = time.perf_counter()
    try:
        result = parse_feed(Path(path).read_bytes(), origin=path)
    except InputError as exc:
        return "refused", exc.reason, time.perf_counter() - start
    except Exception:
        return "traceback", traceback.format_exc(limit=3), time.perf_counter() - start
    return "read", [article.title for article in result.articles], time.perf_counter() - start


def _new_pool() -> Any:
    return multiprocessing.get_context("fork").Pool(1)


@pytest.mark.corpus
def test_feedparser_corpus_no_traceback_no_hang_no_entity_text() -> None:
    root = find_corpus("feedparser-*/tests")
    files = sorted(p for p in root.rglob("*.xml") if p.is_file())
    assert len(files) > 2000, f"only {len(files)} documents under {root}"
    outcomes: Counter[str] = Counter()
    problems: dict[str, list[str]] = {"traceback": [], "hang": [], "entity": []}
    titles = 0
    with_tags = 0
    slowest = 0.0
    started = time.perf_counter()
    pool = _new_pool()
    try:
        for path in files:
            pending = pool.apply_async(read_one, (str(path),))
            try:
                kind, payload, seconds = pending.get(timeout=PER_FILE_SECONDS)
            except multiprocessing.TimeoutError:
                problems["hang"].append(str(path.relative_to(root)))
                outcomes["hang"] += 1
                pool.terminate()
                pool = _new_pool()
                continue
            slowest = max(slowest, seconds)
            outcomes[kind] += 1
            if kind == "traceback":
                problems["traceback"].append(f"{path.relative_to(root)}: {payload}")
            elif kind == "read":
                titles += len(payload)
                for title in payload:
                    if ENTITY_TEXT.search(title):
                        problems["entity"].append(f"{path.relative_to(root)}: {title!r}")
                    with_tags += bool(TAG_TEXT.search(title))
    finally:
        pool.terminate()
    elapsed = time.perf_counter() - started
    print(
        f"\nfeedparser corpus: {len(files)} documents in {elapsed:.1f} s (slowest {slowest:.2f} s); "
        f"read {outcomes['read']}, refused {outcomes['refused']}, tracebacks {outcomes['traceback']}, "
        f"hangs {outcomes['hang']}; {titles} titles, {len(problems['entity'])} with entity text, "
        f"{with_tags} with text that looks like a tag"
    )
    assert problems["traceback"] == []
    assert problems["hang"] == []
    assert problems["entity"] == []
