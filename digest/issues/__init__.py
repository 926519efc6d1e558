"""Issues: the week's issue file composed, rendered for each reader, checked, previewed and approved.

- ``issue``: issue files (issues/<id>/issue.yaml): load with line-numbered errors, save, resolve.
- ``drafting``: a new issue drafted from the week's articles; ``catalogue``: every issue and where it stands.
- ``wording``, ``render``, ``typeset``, ``cache``: the words of each copy, Jinja → MJML → HTML,
  the text part typeset.
- ``personalise``: each reader's own links; ``mime``: the message as it goes out.
- ``checks``, ``preview``, ``browser``, ``folders``: `digest check` and `digest preview`.
- ``archive``: the archive pages of an issue; ``approval``: the approval of an exact rendering.

May import: the base, :mod:`digest.store`, :mod:`digest.articles` and :mod:`digest.people`
(segments narrow an issue's stories). Never providers, sending or events; the one reach
forward is ``catalogue`` reading from the ledger whether an issue was sent.
"""
