"""Email providers, one module or package each, side by side.

Each provider only translates: a batch into its provider's terms and the
provider's answer (and events, webhooks, lists) back into ours. None of them
touches the ledger or the database; :mod:`digest.sending` decides who still
needs a copy and :mod:`digest.events` what an event means for a person.

- ``base``: the batch, result and error types every provider shares, and
  :func:`~digest.providers.base.make_provider`.
- ``registry``: the one list of provider names.
- ``outbox``: .eml files, the default.
- ``smtp``: sending over SMTP, DKIM signing, and its bounce (VERP) address.
- ``sendgrid``: mail/send, the event webhook's payloads and signatures, and
  the suppression lists.

May import: the base, :mod:`digest.issues` (the rendered email, its MIME
message, each reader's fields), :mod:`digest.people.emails`, and
:mod:`digest.events.event`, the shape events are translated into. Never the
store, the ledger or a subscriber's record.
"""
