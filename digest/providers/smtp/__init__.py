"""SMTP: sending over one reused connection (``sending``), signed with DKIM (``dkim``), and the bounce side,
the VERP envelope sender that lets a bounce name its delivery (``verp``)."""
