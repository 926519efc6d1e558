"""Before a send writes anything: can the chosen provider work at all?

A send whose provider lacks its credentials, or whose SMTP server cannot be
reached, used to write its plan and then fail, leaving the issue with an
unfinished send. This asks first: the provider is made as the runner would
make it (which checks its settings and secrets), and, when ``connect`` is
set, opens and closes a connection where that costs nothing (SMTP: connect,
TLS and login, no message). SendGrid's key is not tried over the network: a
401 on the first batch still stops the send with nothing sent.
"""

from __future__ import annotations

from digest.config import Settings
from digest.providers.base import make_provider


def check_provider(settings: Settings, name: str | None = None, *, connect: bool = True) -> None:
    """Raise the provider's own error (ConfigError, ProviderFatal) if ``name`` cannot send; send nothing."""
    provider = make_provider(settings, name)
    try:
        check = getattr(provider, "check", None)
        if connect and callable(check):
            check()
    finally:
        provider.close()
