"""The one table of other tools' exports: how each is recognised and what its columns say about a person.

Every mailing tool says "this person left" its own way: a file of its own
(Mailchimp), a status column with its own words (Buttondown's
``subscriber_type``, Kit's ``state``, Campaign Monitor's ``State``), a flag
(Substack's ``email_disabled``, Brevo's blocklist, Shopify's "Accepts Email
Marketing") or a date (beehiiv's ``unsubscribed_at``). Each entry below holds,
as data: the headers that recognise the tool's file, which of its columns hold
a status and which of their values mean left, bounced, complained or never
confirmed, which columns are its subscription (consent) time, and which are
its own bookkeeping. :mod:`.layout` reads the table; nothing else knows a
tool's words. Where each layout was learned is in tests/data/exports/SOURCES.md.

Headers are compared as :func:`digest.people.csvimport.layout.normalise_header` folds
them ("Accepts Email Marketing", "accepts_email_marketing" → "accepts email
marketing"); a status value as written, trimmed and case-folded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from digest.people.subscribers import ACTIVE, BOUNCED, COMPLAINED, UNSUBSCRIBED

# Rows that say the person never opted in to this list (or never confirmed): not stored, not mailed, not suppressed.
NOT_SUBSCRIBED = "not-subscribed"

# How cautious each status is: when two columns of a row disagree, the most cautious wins.
CAUTION = {ACTIVE: 0, NOT_SUBSCRIBED: 1, UNSUBSCRIBED: 2, BOUNCED: 3, COMPLAINED: 4}

_TRUE = ("true", "yes", "y", "1")
_FALSE = ("false", "no", "n", "0")


@dataclass(frozen=True)
class StatusRule:
    """One column that says whether a person is still subscribed, and how its values say it."""

    headers: tuple[str, ...]  # the column's names, normalised (the first one found is used)
    values: Mapping[str, str]  # a cell's value → status
    empty: str | None = ACTIVE  # an empty cell's status; None: the row is refused
    other: str | None = None  # any other value's status (a date in `unsubscribed_at`); None: the row is refused
    listed: bool = False  # the cell lists several values (Brevo's channels): the most cautious one counts

    def status_of(self, cell: str) -> str | None:
        """The status ``cell`` means, or None when the rule does not know the value."""
        text = cell.strip().casefold()
        if not text:
            return self.empty
        if not self.listed:
            return self.values.get(text, self.other)
        found = [self.values.get(part, self.other) for part in _parts(text)]
        if any(status is None for status in found):
            return None
        return max((status for status in found if status is not None), key=CAUTION.__getitem__, default=self.empty)

    def known_values(self) -> str:
        """The values this rule knows, for an error message: "active, cancelled, …"."""
        return ", ".join(sorted(self.values))


def _parts(text: str) -> list[str]:
    for separator in "|;[]":
        text = text.replace(separator, ",")
    return [part.strip() for part in text.split(",") if part.strip()]


def flag(*, true: str, false: str = ACTIVE) -> dict[str, str]:
    """A yes/no column's values: what true means and what false means."""
    return {**dict.fromkeys(_TRUE, true), **dict.fromkeys(_FALSE, false)}


@dataclass(frozen=True)
class Tool:
    """One tool's export: how to know it, and what its columns say."""

    name: str
    description: str  # "Kit's subscriber export", for the admin
    recognised_by: tuple[str, ...]  # normalised headers that must all be there
    any_of: tuple[str, ...] = ()  # and at least one of these, when given
    none_of: tuple[str, ...] = ()  # and none of these
    status: tuple[StatusRule, ...] = ()
    # normalised header → (target, note): a field ("first_name"), "consent_at"/"optin_at"/"confirm_at"/"optin_ip",
    # None (ignored, the note says why), or "evidence" (kept in the history beside the status).
    columns: Mapping[str, tuple[str | None, str]] = field(default_factory=dict)
    # Addresses at these domains are placeholders, not people (Substack's deletion requests).
    placeholder_domains: tuple[str, ...] = ()


TOOLS: tuple[Tool, ...] = (
    Tool(
        "substack",
        "Substack's subscriber export",
        recognised_by=("email", "email disabled"),
        any_of=("prefer digests", "active subscription", "expiry"),
        status=(StatusRule(("email disabled",), flag(true=UNSUBSCRIBED), other=None),),
        columns={
            "created at": ("consent_at", "when the person subscribed on Substack"),
            "active subscription": (None, "a paid subscription, not consent to email"),
            "expiry": (None, "when a paid subscription ends"),
            "prefer digests": (None, "Substack's delivery preference"),
            "stripe connected customer id": (None, "Substack's payment bookkeeping"),
            "type": (None, "Substack's plan (free, paid, comp, gift)"),
        },
        placeholder_domains=("deletion-request.substack.com",),
    ),
    Tool(
        "beehiiv",
        "the beehiiv subscriber export",
        recognised_by=("email", "status", "tier", "created at"),
        status=(
            StatusRule(
                ("status",),
                {
                    "active": ACTIVE,
                    "inactive": UNSUBSCRIBED,
                    "pending": NOT_SUBSCRIBED,
                    "validating": NOT_SUBSCRIBED,
                    "invalid": BOUNCED,
                },
                empty=None,
            ),
            # beehiiv keeps `status` active beside the date someone unsubscribed: the date decides.
            StatusRule(("unsubscribed at",), {}, other=UNSUBSCRIBED),
        ),
        columns={
            "created at": ("consent_at", "when the person subscribed on beehiiv"),
            "tier": (None, "beehiiv's plan (free, premium)"),
            "stripe customer id": (None, "beehiiv's payment bookkeeping"),
        },
    ),
    Tool(
        "buttondown",
        "Buttondown's subscriber export",
        recognised_by=("email", "subscriber type"),
        status=(
            StatusRule(
                ("subscriber type",),
                {
                    **dict.fromkeys(
                        (
                            "regular",
                            "premium",
                            "trialed",
                            "gifted",
                            "churning",
                            "churned",
                            "paused",
                            "past due",
                            "past_due",
                            "unpaid",
                            "upcoming",
                        ),
                        ACTIVE,
                    ),
                    "unsubscribed": UNSUBSCRIBED,
                    "removed": UNSUBSCRIBED,  # removed (banned) by the newsletter's owner
                    "undeliverable": BOUNCED,
                    "complained": COMPLAINED,
                    "unactivated": NOT_SUBSCRIBED,  # never confirmed
                    "blocked": NOT_SUBSCRIBED,  # stopped at sign-up by Buttondown's filters
                    "spammy": NOT_SUBSCRIBED,
                },
                empty=None,
            ),
        ),
        columns={
            "creation date": ("consent_at", "when the person subscribed on Buttondown"),
            "id": (None, "Buttondown's own id"),
            "secondary id": (None, "Buttondown's own id"),
            "source": (None, "how Buttondown got the address"),
        },
    ),
    Tool(
        "kit",
        "Kit's (ConvertKit's) subscriber export",
        recognised_by=("email address", "state"),
        any_of=("first name", "created at"),
        none_of=("member rating", "optin time"),
        status=(
            StatusRule(
                ("state",),
                {
                    "active": ACTIVE,
                    "cancelled": UNSUBSCRIBED,
                    "canceled": UNSUBSCRIBED,
                    "bounced": BOUNCED,
                    "complained": COMPLAINED,
                    "inactive": NOT_SUBSCRIBED,  # Kit's word for never confirmed
                },
                empty=None,
            ),
        ),
        columns={
            "created at": ("consent_at", "when the person subscribed on Kit"),
            "id": (None, "Kit's own id"),
            "canceled at": ("evidence", ""),
            "cancelled at": ("evidence", ""),
        },
    ),
    Tool(
        "brevo",
        "Brevo's (Sendinblue's) contact export",
        recognised_by=("email",),
        any_of=("listids", "email blacklisted", "email blocklisted", "sms blacklisted", "sms blocklisted"),
        status=(
            # The export with subscription statuses lists the channels a contact is blocklisted from.
            StatusRule(
                ("blocklisted",),
                {"email marketing": UNSUBSCRIBED, "email_marketing": UNSUBSCRIBED, "email": UNSUBSCRIBED}
                | {"sms marketing": ACTIVE, "sms_marketing": ACTIVE, "sms": ACTIVE, "whatsapp": ACTIVE},
                listed=True,
            ),
            StatusRule(("email blacklisted", "email blocklisted", "blacklisted"), flag(true=UNSUBSCRIBED)),
        ),
        columns={
            "added time": (None, "when the contact was added to Brevo, not evidence of consent"),
            "modified time": (None, "when Brevo's record last changed"),
            "listids": (None, "Brevo's list ids"),
            "subscribed": (None, "Brevo's channels (the blocklist column decides)"),
            "sms blacklisted": (None, "text messages, not email"),
            "sms blocklisted": (None, "text messages, not email"),
            "contact id": (None, "Brevo's own id"),
        },
    ),
    Tool(
        "campaign-monitor",
        "Campaign Monitor's subscriber export",
        recognised_by=("state",),
        any_of=("listjoineddate", "list joined date", "statechangeddate", "consenttotrack", "readsemailwith"),
        status=(
            StatusRule(
                ("state",),
                {
                    "active": ACTIVE,
                    "unsubscribed": UNSUBSCRIBED,
                    "deleted": UNSUBSCRIBED,  # deleted from the list by its owner, and suppressed there
                    "bounced": BOUNCED,
                    "unconfirmed": NOT_SUBSCRIBED,
                },
                empty=None,
            ),
        ),
        columns={
            "listjoineddate": ("consent_at", "when the person joined the list"),
            "list joined date": ("consent_at", "when the person joined the list"),
            "date": ("evidence", ""),
            "statechangeddate": ("evidence", ""),
            "consenttotrack": (None, "consent to open and click tracking, not to email"),
            "readsemailwith": (None, "Campaign Monitor's guess of the email program"),
        },
    ),
    Tool(
        "shopify",
        "Shopify's customer export",
        recognised_by=("email",),
        any_of=("accepts email marketing", "accepts marketing"),
        status=(
            # A customer who does not accept email marketing never opted in to a mailing list.
            StatusRule(
                ("accepts email marketing", "accepts marketing"), flag(true=ACTIVE, false=NOT_SUBSCRIBED), empty=None
            ),
        ),
        columns={
            "default address company": ("organisation", ""),
            "customer id": (None, "Shopify's own id"),
            "accepts sms marketing": (None, "text messages, not email"),
            "total spent": (None, "Shopify's order history"),
            "total orders": (None, "Shopify's order history"),
            "tax exempt": (None, "Shopify's tax setting"),
        },
    ),
    Tool(
        "mailerlite",
        "MailerLite's subscriber export",
        recognised_by=("email", "name", "last name"),
        any_of=("status", "z i p", "subscribed at", "opted in at"),
        status=(
            StatusRule(
                ("status",),
                {
                    "active": ACTIVE,
                    "unsubscribed": UNSUBSCRIBED,
                    "bounced": BOUNCED,
                    "junk": COMPLAINED,  # marked as spam
                    "unconfirmed": NOT_SUBSCRIBED,
                },
                empty=None,
            ),
            StatusRule(("unsubscribed at",), {}, other=UNSUBSCRIBED),
        ),
        columns={
            "name": ("first_name", "MailerLite's name field is the first name, beside last_name"),
            "company": ("organisation", ""),
            "subscribed at": ("optin_at", ""),
            "opted in at": ("confirm_at", ""),
            "optin ip": ("optin_ip", ""),
            "ip address": ("optin_ip", ""),
            "z i p": (None, "a postcode"),
        },
    ),
    Tool(
        "listmonk",
        "the listmonk subscriber export",
        recognised_by=("email", "name", "attributes"),
        none_of=("first name", "last name"),
        status=(
            StatusRule(
                ("status",),
                {"enabled": ACTIVE, "blocklisted": UNSUBSCRIBED, "disabled": NOT_SUBSCRIBED},
                empty=ACTIVE,
            ),
        ),
        columns={
            "uuid": (None, "listmonk's own id"),
            "attributes": ("attributes_json", ""),
            "created at": (None, "when the listmonk record was made, not evidence of consent"),
            "updated at": (None, "when the listmonk record last changed"),
        },
    ),
)

# --- Mailchimp: the status is which file it is --------------------------------------------------------

# Mailchimp's own columns, written in capitals in every language; a merge field the audience's
# owner made ("Region") is told apart from Mailchimp's geo-IP guess ("REGION") by case.
MAILCHIMP_GEO = ("LATITUDE", "LONGITUDE", "GMTOFF", "DSTOFF", "TIMEZONE", "CC", "REGION")
MAILCHIMP_UNSUB = ("UNSUB_TIME", "UNSUB_CAMPAIGN_TITLE", "UNSUB_CAMPAIGN_ID", "UNSUB_REASON", "UNSUB_REASON_OTHER")
MAILCHIMP_CLEAN = ("CLEAN_TIME", "CLEAN_CAMPAIGN_TITLE", "CLEAN_CAMPAIGN_ID")
MAILCHIMP_COLUMNS: dict[str, tuple[str | None, str]] = {
    "MEMBER_RATING": (None, "Mailchimp's engagement rating, not a fact about the person"),
    "OPTIN_TIME": ("optin_at", ""),
    "OPTIN_IP": ("optin_ip", ""),
    "CONFIRM_TIME": ("confirm_at", ""),
    "CONFIRM_IP": ("confirm_ip", ""),
    **{name: (None, "Mailchimp's guess from the IP address ({map})") for name in MAILCHIMP_GEO},
    "LAST_CHANGED": (None, "when the Mailchimp record last changed"),
    "LEID": (None, "Mailchimp's own id"),
    "EUID": (None, "Mailchimp's own id"),
    "NOTES": (None, "Mailchimp's internal notes ({map})"),
    "TAGS": ("tags", ""),
    **{name: ("evidence", "") for name in (*MAILCHIMP_UNSUB, *MAILCHIMP_CLEAN)},
}
# Enough of these, in capitals, and the file is a Mailchimp audience export whatever its language.
MAILCHIMP_MARKERS = frozenset(
    {"MEMBER_RATING", "OPTIN_TIME", "CONFIRM_TIME", "LEID", "EUID", "LAST_CHANGED", "OPTIN_IP"}
)
# Mailchimp's default fields as a localised audience names them (Email Address, First Name, Last Name),
# normalised: German, French, Spanish, Dutch, Italian, Portuguese.
LOCALISED_HEADERS: dict[str, tuple[str, ...]] = {
    "email": (
        "e mail adresse",
        "email adresse",
        "adresse e mail",
        "adresse email",
        "adresse electronique",
        "direccion de correo electronico",
        "correo electronico",
        "e mailadres",
        "emailadres",
        "indirizzo email",
        "indirizzo e mail",
        "endereco de email",
        "endereco de e mail",
    ),
    "first_name": ("vorname", "prenom", "nombre", "voornaam", "nome"),
    "last_name": ("nachname", "nom", "nom de famille", "apellido", "apellidos", "achternaam", "cognome", "sobrenome"),
}

# --- columns the import does not understand, but that look like a status -------------------------------

# Words in a header that make its column look like a subscription status, whatever the tool: words of
# leaving ("Unsubscribed", "EMAIL_BLACKLISTED", "Opt-out") and words that may be a status or something
# else ("State" may be a county, "Status" a job's). Matched inside the normalised header, padded with spaces.
LEAVING_NAMES = (
    "unsub",
    "blacklist",
    "blocklist",
    "blocked",
    "bounce",
    "complain",
    "suppress",
    "opt out",
    "optout",
    "opted out",
    "disabled",
    "cancel",
    "deleted",
    "spam",
    "do not",
)
AMBIGUOUS_NAMES = ("subscri", "marketing", " state ", "status", " active ", " opt in ", " optin ")
# Values that, under such a header, say something about subscription rather than being a place or a note.
STATUS_LIKE_VALUES = frozenset(
    {
        *_TRUE,
        *_FALSE,
        "x",
        "subscribed",
        "unsubscribed",
        "active",
        "inactive",
        "enabled",
        "disabled",
        "bounced",
        "cleaned",
        "complained",
        "spam",
        "junk",
        "blocked",
        "blocklisted",
        "blacklisted",
        "cancelled",
        "canceled",
        "deleted",
        "removed",
        "pending",
        "unconfirmed",
        "confirmed",
        "opted out",
        "opted in",
        "opt out",
        "opt in",
        "undeliverable",
        "suppressed",
    }
)
# Under a header of leaving that names a moment ("unsubscribed_at", "Unsub date"), any value counts.
MOMENTS = (" at", "time", "date", " on", "when")
