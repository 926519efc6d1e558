"""`digest articles import` of one big RSS feed: whether the import stays linear in the number of items.

Run: .venv/bin/python bench/feed_import.py [N ...]   (default 1000 4000 60000)

Each feed holds N distinct stories all published on one day (a site's
whole archive re-dated, or a hostile feed), so every story has all the
others within a day of it, where the same story from two sources is looked
for; one story in fifty is repeated under another source's name.
Prints, per size, the seconds of the import into a fresh SQLite project and
the microseconds per item; linear means the last column stays level.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import remove, scratch_project


def feed(items: int) -> bytes:
    """An RSS 2.0 feed of ``items`` stories of one day, every fiftieth twice (once from another source)."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        "<title>Bench News</title><link>https://bench.example.org/</link><description>b</description>"
    ]
    for number in range(items):
        when = start + timedelta(seconds=number % 86400)
        title = f"Story {number} about safeguarding item {number * 7919 % 100003}"
        source = "<source url='https://other.example.org/rss'>Other News</source>" if number % 50 == 1 else ""
        if number % 50 == 1:
            title = f"Story {number - 1} about safeguarding item {(number - 1) * 7919 % 100003}"
        parts.append(
            f"<item><title>{escape(title)}</title><link>https://bench.example.org/{number}</link>"
            f"<pubDate>{format_datetime(when)}</pubDate>{source}"
            f"<description>Paragraph {number}.</description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


def run(items: int) -> tuple[float, int, int]:
    from digest.articles.store import import_articles
    from digest.config import load_settings
    from digest.store.db import open_database

    folder = scratch_project()
    try:
        path = folder / "big.xml"
        path.write_bytes(feed(items))
        settings = load_settings(folder / "digest.toml")
        engine = open_database(settings.database_url)
        begin = time.perf_counter()
        report = import_articles(engine, settings, [str(path)])
        seconds = time.perf_counter() - begin
        engine.dispose()
        duplicates = sum("likely duplicate" in warning for warning in report.warnings)
        return seconds, report.new, duplicates
    finally:
        remove(folder)


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or [1000, 4000, 60000]
    print("items | seconds | stored | likely duplicates | µs per item")
    for items in sizes:
        seconds, stored, duplicates = run(items)
        print(f"{items} | {seconds:.2f} | {stored} | {duplicates} | {seconds / items * 1e6:.0f}", flush=True)


if __name__ == "__main__":
    main()
