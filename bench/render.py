"""Render one issue of 12 stories (HTML + text + inlining), and time cold CLI processes.

Run: .venv/bin/python bench/render.py
"""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BIN, machine, median_ms, remove, run_process, scratch_project, timed

STORIES = 12


def build_project() -> Path:
    """A project holding an issue of 12 stories with realistic bodies."""
    folder = scratch_project()
    paragraphs = (
        "Officers and partner agencies have published new guidance for professionals who work with "
        "children, setting out how concerns should be recorded and shared. "
        "It follows a review of recent cases in which information held by one agency did not reach another."
    )
    lines = ["SAFE Newsfeed", ""]
    start = date(2025, 4, 3)
    for number in range(STORIES):
        lines += [
            f"Story number {number + 1} about safeguarding children online and offline",
            "",
            f"Source: Agency {number % 4} published on this website {(start + timedelta(days=number % 7)).strftime('%A %-d %B %Y')} by Editor",
            "",
            paragraphs,
            "",
            "Key points",
            "",
            "  • one thing to know",
            "  • another thing to know",
            "",
            paragraphs,
            "",
        ]
    (folder / "articles.txt").write_text("\n".join(lines), encoding="utf-8")
    return folder


def main() -> None:
    folder = build_project()
    try:
        digest = str(BIN / "digest")
        run_process([digest, "articles", "import", "articles.txt"], folder)
        run_process([digest, "issue", "new", "--date", "2025-04-10"], folder)

        from digest.config import load_settings
        from digest.issues.issue import load_view
        from digest.issues.render import render_issue
        from digest.store.db import open_database

        settings = load_settings(folder / "digest.toml")
        engine = open_database(settings.database_url)
        view = load_view(engine, settings, "2025-04-10")
        assert len(view.stories()) == STORIES, len(view.stories())
        first = timed(lambda: render_issue(view, settings), 1)
        warm = timed(lambda: render_issue(view, settings), 30)
        size = len(render_issue(view, settings).html.encode("utf-8"))

        help_times = [run_process([digest, "--help"], folder) for _ in range(10)]
        preview_times = [run_process([digest, "preview", "2025-04-10", "--no-screenshots"], folder) for _ in range(5)]
        shot_times = [run_process([digest, "preview", "2025-04-10"], folder) for _ in range(3)]
        python_times = [run_process([sys.executable, "-c", "pass"], folder) for _ in range(10)]

        print(f"machine: {machine()}")
        print(
            f"render one issue of {STORIES} stories (HTML + text + inlining), first call in process: {first[0] * 1000:.1f} ms"
        )
        print(
            f"render one issue of {STORIES} stories, warm, median of 30: {median_ms(warm)}; HTML {size / 1024:.1f} KB"
        )
        print(f"cold `python -c pass`, median of 10: {median_ms(python_times)}")
        print(f"cold `digest --help`, median of 10: {median_ms(help_times)}")
        print(f"cold `digest preview --no-screenshots` ({STORIES} stories), median of 5: {median_ms(preview_times)}")
        print(f"cold `digest preview` with three Chromium screenshots, median of 3: {median_ms(shot_times)}")
    finally:
        remove(folder)


if __name__ == "__main__":
    main()
