"""With --online: the host of the unsubscribe links ([web] base_url) answers over HTTPS.

A one-click unsubscribe is a POST from the receiver's servers to that host
(RFC 8058 §3.2); if it cannot be reached, readers cannot leave the list, and
Gmail and Yahoo count that against the sender.
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request

from digest.config import Settings
from digest.doctor.report import Check, error, ok

TIMEOUT_SECONDS = 10.0


def unsubscribe_host(settings: Settings, *, timeout: float = TIMEOUT_SECONDS) -> Check:
    """GET [web] base_url: any HTTP answer shows the host is there; no answer, or a bad certificate, does not."""
    name = "unsubscribe host"
    url = settings.base_url + "/"
    request = urllib.request.Request(url, method="GET", headers={"User-Agent": "digest doctor"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only, from settings
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            return error(name, f"{url}: the certificate is not valid ({reason.verify_message})", "renew or fix it")
        return error(name, f"{url} cannot be reached ({reason})", "start `digest serve` there, or fix [web] base_url")
    except (TimeoutError, OSError) as exc:
        return error(name, f"{url} did not answer ({exc})", "start `digest serve` there, or fix [web] base_url")
    if status >= 500:
        return error(name, f"{url} answers {status}", "look at the server's log")
    return ok(name, f"{url} answers ({status})")
