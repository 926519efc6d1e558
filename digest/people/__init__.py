"""People: the subscribers and every decision about one, each with its reason and evidence.

- ``subscribers``, ``statusbook``: the subscriber store, status changes one by one or many at once, suppressions.
- ``csvimport``: subscriber lists from other tools' CSV exports.
- ``segments``: who gets which stories (subscribers/segments.yaml).
- ``emails``: addresses checked, compared and hashed; ``plaintext``: outside text on one line.
- ``links``: the signed tokens of personal links; ``subscriptions``: what a reader does with them.
- ``signups``, ``ratelimit``: sign-up with double opt-in, and its limits.
- ``erasure``, ``exports``: erasing a person; files of personal data kept out of git.
- ``keyguard``, ``rekey``: the secret key the address hashes were made with, and changing it.

May import: the base, :mod:`digest.store` and :mod:`digest.articles`. Never issues, sending
or events; the one reach forward is ``signups``, whose confirmation email is rendered from
the templates and goes out through the configured provider.
"""
