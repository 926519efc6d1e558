"""SendGrid, everything it knows side by side: v3 mail/send (``sending``), the
Event Webhook's payloads and type map (``events``), its ECDSA signatures
(``webhook``) and the suppression lists (``lists``)."""
