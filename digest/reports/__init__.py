"""Reports: what became of a sent issue.

- ``report``: `digest report` (the outcome per segment, with charts) and one subscriber's story.
- ``published``: the sent issues as the public sees them: the archive's listings, pages and feed.

May import: the base and the packages before it, up to :mod:`digest.corrections` (a
report counts corrections; the archive shows them).
"""
