"""SpamAssassin (local rules only: there is no network) scores the demo issue's complete message."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date

from digest.articles import import_articles
from digest.drafting import new_issue
from digest.preview import write_preview
from tests.conftest import REPO, require_tool

LIMIT = 2.0


def test_the_demo_issue_scores_well_under_the_limit(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    require_tool(shutil.which("spamassassin") is not None, "no SpamAssassin for the spam score", tool="spamassassin")
    articles = sorted(str(p) for p in (REPO / "examples" / "articles").iterdir())
    report = import_articles(engine, settings, articles)
    assert report.new == 8
    new_issue(engine, settings, issue_date=date(2026, 11, 23))
    result = write_preview(engine, settings, "2026-11-23", screenshots=False)
    message = (result.folder / "email.eml").read_bytes()
    run = subprocess.run(["spamassassin", "-L", "-t"], input=message, capture_output=True, timeout=120, check=False)
    output = run.stdout.decode("utf-8", "replace")
    score = float(re.search(r"^X-Spam-Status: \w+, score=(-?[\d.]+)", output, re.M).group(1))
    details = output.split("Content analysis details:", 1)[1].strip()
    print(f"\nSpamAssassin score {score} (limit {LIMIT}):\n{details}")
    assert score <= LIMIT, f"SpamAssassin scored {score}:\n{details}"
    assert "HTML_FONT_LOW_CONTRAST" not in details
