#!/usr/bin/env bash
# The whole weekly routine on the example content, with the embedded defaults:
# SQLite in digest.db and the local outbox. `make demo` runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
digest() { "${DIGEST:-.venv/bin/digest}" "$@"; }
ISSUE=2026-11-23

echo "== 1. Import the week's articles (newsfeed text, an RSS feed, Markdown)"
digest articles import examples/articles/newsfeed-2026-11-week47.txt \
    examples/articles/partner-feed.xml examples/articles/*.md

echo
echo "== 2. Draft the issue of $ISSUE from the week before it"
digest issue new --date "$ISSUE" --force
digest issue show "$ISSUE"

echo
echo "== 3. Check it"
digest check "$ISSUE"

echo
echo "== 4. Preview it"
index=$(digest preview "$ISSUE")
echo
echo "Done. Open the preview in a browser:"
echo "  $index"
