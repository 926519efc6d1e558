"""Fetching a feed over HTTP(S), with a size limit and a timeout."""

from __future__ import annotations

import urllib.error
import urllib.request

from digest.errors import InputError

MAX_FETCH_BYTES = 10 * 1024 * 1024
FETCH_TIMEOUT = 30.0


def fetch_url(url: str, *, timeout: float = FETCH_TIMEOUT, limit: int = MAX_FETCH_BYTES) -> bytes:
    """GET a feed, refusing bodies over ``limit`` bytes and slow servers."""
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked by the caller
        url, headers={"User-Agent": "safe-digest/0.1 (+feed import)"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            data = response.read(limit + 1)
    except urllib.error.HTTPError as exc:
        raise InputError(f"the server answered {exc.code} {exc.reason}", path=url) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InputError(f"could not fetch the feed ({reason})", path=url) from None
    if len(data) > limit:
        raise InputError(f"the feed is larger than {limit // (1024 * 1024)} MB", path=url)
    return data
