"""The editor's studio: compose an issue in the browser, with the email beside the controls.

`digest studio [ISSUE]` serves it on this machine. issue.yaml stays the one
source of truth: the studio reads it, writes it back keeping the editor's
comments (:mod:`.document`), and checks, renders, approves and test-sends
through the same library functions as the CLI.

Modules: ``draft`` (the editable state and its moves), ``document`` (writing
it into the YAML), ``merge`` (the editor's changes into a file that changed
meanwhile), ``forms`` (the page's form), ``fields`` (which field a problem
belongs to), ``candidates`` (the choose list), ``preview`` (render and check a
draft), ``actions`` (the buttons), ``page`` (what the page shows), ``auth``
(token, password, CSRF), ``app`` (the Flask routes), ``server`` (starting
it), ``bridge`` (the one door into sending).

May import: the packages before it and :mod:`digest.web.serving`, but never a
table: no :mod:`digest.store`, no SQL.
"""
