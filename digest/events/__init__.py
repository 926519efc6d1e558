"""Events: what comes back after a send, and what it means for a person.

- ``event``: the generic event every provider translates its own into.
- ``rules``: the one ingest path (stored once, placed) and the rules (bounced, complained, unsubscribed).
- ``intake``: SendGrid's webhook bodies, saved exports and suppression lists, through that path.
- ``bounces``, ``mailboxes``, ``mail_decode``, ``bounce_parse``, ``bounce_reasons``:
  bounce mailboxes read, each message classified by reason.

May import: the base and the packages before it (store, articles, people, issues,
providers, sending). This ``__init__`` imports nothing: settings read
``bounce_reasons`` and providers read ``event`` without loading the rest.
"""
