"""Articles: what comes in each week, before an issue is composed.

- ``sources``: the readers (SAFE newsfeed text, RSS/Atom feeds, Markdown) and the fetcher.
- ``store``: the article store: import without duplicates, list, look up.
- ``content``: an article's text as blocks, cleaned of what email cannot carry.
- ``summary``: summaries in whole sentences.
- ``edits``: the editor's edits of an imported article, and deleting one.

May import: the base and :mod:`digest.store`. Never people, sending or events; the one
reach forward is ``edits`` asking the issue files before an article is deleted
(tests/test_architecture.py holds the rules).
"""
