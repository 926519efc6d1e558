"""`digest serve`: SendGrid's event webhook, unsubscribe, preferences, sign-up and the archive.

A Flask application. `digest serve` runs it under waitress; in production run
``waitress-serve --host 0.0.0.0 --port 8000 --call digest.web:create_app``
(with DIGEST_CONFIG naming digest.toml) behind a TLS-terminating proxy.

Rules the pages keep:

* The webhook answers 2xx only once its events are stored, so SendGrid retries
  a failure; a bad or missing signature (or a stale timestamp) is refused with
  nothing stored; bodies are size-limited; bad JSON is a 400, never a 500.
* A GET never unsubscribes (mail scanners follow links): it shows a button.
  The RFC 8058 one-click POST (body ``List-Unsubscribe=One-Click``) does.
* A forged or altered link token changes nothing and shows a plain error.
* Sign-up is double opt-in, rate-limited per client, protected against
  cross-site posting, and answers the same whether or not the address is known.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import defaultdict, deque
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import Flask, Response, abort, request
from sqlalchemy.engine import Engine

from digest import db
from digest.config import Settings
from digest.links import LinkToken, read_token

if TYPE_CHECKING:
    from digest.archive import IssueListing

ONE_CLICK_BODY = "List-Unsubscribe=One-Click"
CONFIRM_TTL = timedelta(days=7)
FORM_TTL_SECONDS = 2 * 3600


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Flask:
    """The application; with no arguments, settings come from DIGEST_CONFIG or ./digest.toml."""
    if settings is None:
        from digest.config import load_settings

        settings = load_settings()
    if engine is None:
        engine = db.open_database(settings.database_url, pool=settings.pool)
    app = Flask("digest", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.events.webhook_max_bytes
    site = Site(settings, engine)
    app.add_url_rule("/healthz", "health", lambda: Response("ok\n", mimetype="text/plain"))
    app.add_url_rule("/webhooks/sendgrid", "webhook", site.webhook, methods=["POST"])
    app.add_url_rule("/unsubscribe/<token>", "unsubscribe", site.unsubscribe, methods=["GET", "POST"])
    app.add_url_rule("/preferences/<token>", "preferences", site.preferences, methods=["GET", "POST"])
    app.add_url_rule("/subscribe", "subscribe", site.subscribe, methods=["GET", "POST"])
    app.add_url_rule("/subscribe/confirm/<token>", "confirm", site.confirm, methods=["GET", "POST"])
    app.add_url_rule("/archive/", "archive_index", site.archive_index)
    app.add_url_rule("/archive/feed.atom", "archive_feed", site.archive_feed)
    app.add_url_rule("/archive/<issue_id>/", "archive_issue", site.archive_issue)
    app.add_url_rule("/archive/<issue_id>/<page>", "archive_page", site.archive_page)

    @app.errorhandler(404)
    def not_found(_error: Any) -> Response:
        return site.page("error.html.j2", 404, title="Page not found", message="There is nothing at this address.")

    @app.errorhandler(413)
    def too_large(_error: Any) -> Response:
        return Response("request body too large\n", status=413, mimetype="text/plain")

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'",
        )
        return response

    app.extensions["digest"] = site
    return app


class RateLimiter:
    """A sliding window per client address, in this process's memory."""

    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window = window_seconds
        self.hits: dict[str, deque[float]] = defaultdict(deque)
        self.lock = threading.Lock()

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        with self.lock:
            hits = self.hits[client]
            while hits and now - hits[0] > self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True


class Site:
    """The request handlers, bound to one project's settings and database."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.secret = settings.require_secret_key()
        self.limiter = RateLimiter(settings.events.subscribe_rate_limit, 3600)
        self.public_key = None
        if settings.sendgrid.webhook_public_key:
            from sendgrid.helpers.eventwebhook import EventWebhook

            self.public_key = EventWebhook().convert_public_key_to_ecdsa(settings.sendgrid.webhook_public_key)

    # --- rendering --------------------------------------------------------------------

    def page(self, template: str, status: int = 200, **context: Any) -> Response:
        from digest.render import render_web_page

        html = render_web_page(
            self.settings,
            template,
            {"org": self.settings.organisation, "language": self.settings.language, "home_url": "/archive/", **context},
        )
        return Response(html, status=status, mimetype="text/html")

    def bad_link(self) -> Response:
        return self.page(
            "error.html.j2",
            400,
            title="This link is not valid",
            message="The link may have been copied incompletely or changed. Nothing has been changed. "
            "Use the link in your most recent email, or contact us.",
        )

    # --- the event webhook --------------------------------------------------------------

    def webhook(self) -> Response:
        from digest.errors import InputError
        from digest.events import ingest, normalise_sendgrid, parse_sendgrid_body

        if self.public_key is None:
            # Unsigned events could unsubscribe anyone: refuse until the key is set (SendGrid retries).
            return _plain("the webhook's public key is not configured (SENDGRID_WEBHOOK_PUBLIC_KEY)", 503)
        raw = request.get_data(cache=False)
        try:
            payload = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _plain("bad request: the body is not UTF-8 JSON", 400)  # nothing is read or stored
        signature = request.headers.get("X-Twilio-Email-Event-Webhook-Signature", "")
        stamp = request.headers.get("X-Twilio-Email-Event-Webhook-Timestamp", "")
        if not self._signed(payload, signature, stamp):
            return _plain("bad or missing signature", 403)
        try:
            age = abs(time.time() - int(stamp))
        except ValueError:
            return _plain("bad timestamp", 403)
        if age > self.settings.events.webhook_max_age_seconds:
            return _plain("stale timestamp", 403)
        try:
            objects = parse_sendgrid_body(payload)
        except InputError as exc:
            return _plain(f"bad request: {exc.reason}", 400)
        received_at = db.utcnow()
        report = ingest(self.engine, self.settings, [normalise_sendgrid(o, received_at=received_at) for o in objects])
        return _plain(f"stored {report.stored} of {report.received} events", 200)

    def _signed(self, payload: str, signature: str, stamp: str) -> bool:
        from sendgrid.helpers.eventwebhook import EventWebhook

        if not signature or not stamp:
            return False
        try:
            # The helper raises (rather than returning False) on a malformed header.
            return bool(EventWebhook().verify_signature(payload, signature, stamp, self.public_key))
        except Exception:
            return False

    # --- unsubscribe and preferences ------------------------------------------------------

    def _token(self, token: str) -> LinkToken | None:
        found = read_token(self.secret, token)
        if found is None:
            return None
        with db.read(self.engine) as conn:
            exists = conn.execute(sa.select(db.subscribers.c.id).where(db.subscribers.c.id == found.subscriber_id))
            return found if exists.first() else None

    def _issue_of(self, link: LinkToken) -> str:
        if not link.delivery_id:
            return ""
        with db.read(self.engine) as conn:
            issue = conn.execute(sa.select(db.deliveries.c.issue_id).where(db.deliveries.c.id == link.delivery_id))
            return issue.scalar() or ""

    def unsubscribe(self, token: str) -> Response:
        link = self._token(token)
        if link is None:
            return self.bad_link()
        if request.method == "GET":
            return self.page(
                "unsubscribe.html.j2",
                token=token,
                preferences_url=f"/preferences/{token}",
                status_now=self._status(link.subscriber_id),
            )
        one_click = request.get_data(as_text=True).strip() == ONE_CLICK_BODY or (
            request.form.get("List-Unsubscribe") == "One-Click"
        )
        issue = self._issue_of(link)
        detail = f"issue {issue}" if issue else "web page"
        self._unsubscribe(link.subscriber_id, "one-click" if one_click else "unsubscribe-link", detail)
        if one_click:
            return _plain("unsubscribed", 200)
        return self.page("unsubscribed.html.j2", preferences_url=f"/preferences/{token}")

    def _status(self, subscriber_id: int) -> str:
        with db.read(self.engine) as conn:
            query = sa.select(db.subscribers.c.status).where(db.subscribers.c.id == subscriber_id)
            return str(conn.execute(query).scalar() or "")

    def _unsubscribe(self, subscriber_id: int, cause: str, detail: str) -> None:
        from digest.subscribers import ACTIVE, UNSUBSCRIBED, change_status

        with db.write(self.engine) as conn:
            status = conn.execute(sa.select(db.subscribers.c.status).where(db.subscribers.c.id == subscriber_id))
            if status.scalar() == ACTIVE:
                change_status(conn, subscriber_id, UNSUBSCRIBED, cause=cause, detail=detail)

    def preferences(self, token: str) -> Response:
        from digest.subscribers import ACTIVE, UNSUBSCRIBED, change_status, remove_suppression, row_to_subscriber

        link = self._token(token)
        if link is None:
            return self.bad_link()
        topics = [{"slug": rule.slug, "label": rule.label} for rule in self.settings.topics]
        known = {rule.slug for rule in self.settings.topics}
        saved = ""
        if request.method == "POST":
            action = request.form.get("action", "save")
            with db.write(self.engine) as conn:
                person = row_to_subscriber(
                    conn.execute(sa.select(db.subscribers).where(db.subscribers.c.id == link.subscriber_id)).one()
                )
                if action == "save" and person.status == ACTIVE:
                    chosen = [t for t in request.form.getlist("topics") if t in known]
                    # Every topic ticked is the same as none: the whole digest.
                    value = [] if set(chosen) == known else chosen
                    conn.execute(
                        db.subscribers.update()
                        .where(db.subscribers.c.id == person.id)
                        .values(topics=value, updated_at=db.utcnow())
                    )
                    saved = "Your choices are saved."
                elif action == "resubscribe" and person.status == UNSUBSCRIBED:
                    remove_suppression(conn, person_hash(conn, person.id), "resubscribed on the preferences page")
                    change_status(
                        conn, person.id, ACTIVE, cause="preferences", detail="resubscribed on the preferences page"
                    )
                    saved = "Welcome back: you will receive the digest again."
                elif action == "unsubscribe":
                    if person.status == ACTIVE:
                        change_status(
                            conn,
                            person.id,
                            UNSUBSCRIBED,
                            cause="preferences",
                            detail="unsubscribed on the preferences page",
                        )
                    saved = "You are unsubscribed."
        with db.read(self.engine) as conn:
            person = row_to_subscriber(
                conn.execute(sa.select(db.subscribers).where(db.subscribers.c.id == link.subscriber_id)).one()
            )
        chosen_topics = set(person.topics) or known
        return self.page(
            "preferences.html.j2",
            token=token,
            topics=topics,
            chosen=chosen_topics,
            status_now=person.status,
            saved=saved,
            first_name=person.first_name,
        )

    # --- sign-up with double opt-in ---------------------------------------------------------

    def _client(self) -> str:
        return request.remote_addr or "unknown"

    def _form_token(self, nonce: str) -> str:
        stamp = str(int(time.time()))
        mac = hmac.new(self.secret, f"form:{nonce}:{stamp}".encode(), hashlib.sha256).hexdigest()
        return f"{stamp}.{mac}"

    def _form_ok(self, nonce: str, token: str) -> bool:
        stamp, _, mac = token.partition(".")
        if not nonce or not stamp.isdigit() or time.time() - int(stamp) > FORM_TTL_SECONDS:
            return False
        expected = hmac.new(self.secret, f"form:{nonce}:{stamp}".encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, mac)

    def _same_origin(self) -> bool:
        origin = request.headers.get("Origin") or request.headers.get("Referer") or ""
        if not origin:
            return True  # some privacy tools strip both; the form token still has to match the cookie
        allowed = {self.settings.base_url, request.host_url.rstrip("/")}
        return any(origin == base or origin.startswith(base + "/") for base in allowed)

    def subscribe(self) -> Response:
        topics = [{"slug": rule.slug, "label": rule.label} for rule in self.settings.topics]
        if request.method == "GET":
            nonce = secrets.token_urlsafe(16)
            response = self.page(
                "subscribe.html.j2",
                topics=topics,
                form_token=self._form_token(nonce),
                notice=self.settings.privacy_notice_version,
                errors=[],
                values={},
            )
            response.set_cookie(
                "digest_form",
                nonce,
                httponly=True,
                samesite="Strict",
                secure=self.settings.base_url.startswith("https://"),
                max_age=FORM_TTL_SECONDS,
            )
            return response
        if not self._same_origin() or not self._form_ok(
            request.cookies.get("digest_form", ""), request.form.get("form_token", "")
        ):
            return self.page(
                "error.html.j2",
                403,
                title="Please try again",
                message="The form had expired or came from another site. Open the sign-up page again.",
            )
        if not self.limiter.allow(self._client()):
            return self.page(
                "error.html.j2", 429, title="Too many sign-ups", message="Please wait an hour before trying again."
            )
        return self._handle_signup(topics)

    def _handle_signup(self, topics: list[dict[str, str]]) -> Response:
        from digest.emails import check_address
        from digest.errors import InputError

        form = request.form
        values = {
            key: form.get(key, "").strip()[:200]
            for key in ("email", "first_name", "last_name", "organisation", "role", "sector")
        }
        errors = []
        address = None
        try:
            address = check_address(values["email"])
        except InputError as exc:
            errors.append(exc.reason)
        if form.get("consent") != "yes":
            errors.append("Please tick the box to agree to receive the digest.")
        if errors or address is None:
            nonce = request.cookies.get("digest_form", "")
            return self.page(
                "subscribe.html.j2",
                400,
                topics=topics,
                form_token=self._form_token(nonce),
                notice=self.settings.privacy_notice_version,
                errors=errors,
                values=values,
            )
        chosen = [t for t in form.getlist("topics") if t in {rule.slug for rule in self.settings.topics}]
        profile = {**{k: v for k, v in values.items() if k != "email"}, "topics": chosen}
        self._start_confirmation(address.email, address.key, profile)
        # The same answer whether the address is new, known or suppressed.
        return self.page("subscribe_sent.html.j2")

    def _start_confirmation(self, email: str, key: str, profile: dict[str, Any]) -> None:
        token = secrets.token_urlsafe(24)
        notice = self.settings.privacy_notice_version or "the privacy notice on the sign-up page"
        with db.write(self.engine) as conn:
            active = conn.execute(
                sa.select(db.subscribers.c.id).where(
                    db.subscribers.c.email_key == key, db.subscribers.c.status == "active"
                )
            ).first()
            if active is not None:
                return  # already receiving it; say nothing that reveals so
            conn.execute(
                db.subscribe_requests.insert().values(
                    email=email,
                    email_key=key,
                    profile=profile,
                    consent_text=f"Agreed on the web sign-up form to {notice}",
                    token_hash=hashlib.sha256(token.encode()).hexdigest(),
                    created_at=db.utcnow(),
                )
            )
        self._send_confirmation(email, token)

    def _send_confirmation(self, email: str, token: str) -> None:
        from digest.personalise import Personal
        from digest.providers import Batch, Recipient, make_provider
        from digest.render import RenderedEmail, environment

        url = f"{self.settings.base_url}/subscribe/confirm/{token}"
        context = {"org": self.settings.organisation, "confirm_url": url, "language": self.settings.language}
        html = environment(self.settings, "html").get_template("web/confirm_email.html.j2").render(context)
        text = environment(self.settings, "text").get_template("web/confirm_email.txt.j2").render(context)
        rendered = RenderedEmail(
            "subscribe", None, "Please confirm your SAFE Newsfeed subscription", "", html, text, ()
        )
        personal = Personal(
            unsubscribe_url=f"{self.settings.base_url}/subscribe", preferences_url="", view_url="", greeting_name=""
        )
        provider = make_provider(self.settings)
        try:
            provider.send(Batch("subscribe", None, rendered, [Recipient(None, email, "", personal)]))
        finally:
            provider.close()

    def confirm(self, token: str) -> Response:
        from digest.emails import Address
        from digest.subscribers import (
            ACTIVE,
            UNSUBSCRIBED,
            change_status,
            email_hash,
            new_subscriber_values,
            normalise_profile,
            remove_suppression,
        )

        digest_of = hashlib.sha256(token.encode()).hexdigest()
        with db.read(self.engine) as conn:
            found = conn.execute(
                sa.select(db.subscribe_requests).where(db.subscribe_requests.c.token_hash == digest_of)
            ).first()
        if found is None or db.utcnow() - found.created_at > CONFIRM_TTL:
            return self.bad_link()
        if request.method == "GET":
            # Confirming takes a press of a button: a link scanner must not subscribe anyone.
            return self.page("confirm.html.j2", token=token)
        now = db.utcnow()
        hashed = email_hash(self.settings, found.email_key)
        with db.write(self.engine) as conn:
            existing = conn.execute(
                sa.select(db.subscribers).where(db.subscribers.c.email_key == found.email_key)
            ).first()
            if existing is None:
                suppressed = conn.execute(
                    sa.select(db.suppressions.c.reason).where(db.suppressions.c.email_hash == hashed)
                ).scalar()
                if suppressed in (None, "unsubscribed", "manual", "erased"):
                    remove_suppression(conn, hashed, "signed up again on the web and confirmed")
                    values = new_subscriber_values(
                        self.settings,
                        Address(found.email, found.email_key),
                        normalise_profile(found.profile),
                        consent_source="web sign-up, confirmed by email",
                        consent_at=now,
                        consent_text=found.consent_text,
                        now=now,
                        hashed=hashed,
                    )
                    new_id = conn.execute(
                        db.subscribers.insert().values(**values).returning(db.subscribers.c.id)
                    ).scalar_one()
                    conn.execute(
                        db.subscriber_history.insert().values(
                            subscriber_id=new_id,
                            at=now,
                            old_status=None,
                            new_status=ACTIVE,
                            cause="subscribe",
                            detail="web sign-up, confirmed by email",
                        )
                    )
            elif existing.status == UNSUBSCRIBED:
                remove_suppression(conn, existing.email_hash, "signed up again on the web and confirmed")
                conn.execute(
                    db.subscribers.update()
                    .where(db.subscribers.c.id == existing.id)
                    .values(
                        consent_source="web sign-up, confirmed by email",
                        consent_at=now,
                        consent_text=found.consent_text,
                    )
                )
                change_status(conn, existing.id, ACTIVE, cause="subscribe", detail="signed up again and confirmed")
            conn.execute(
                db.subscribe_requests.update().where(db.subscribe_requests.c.id == found.id).values(confirmed_at=now)
            )
        return self.page("subscribe_confirmed.html.j2")

    # --- the archive --------------------------------------------------------------------------

    def _sent_issue_ids(self, only: str | None = None) -> list[str]:
        """Ids of issues that went out (or are going out); with ``only``, just that one if it did."""
        query = sa.select(db.sends.c.issue_id).where(db.sends.c.state.in_(["done", "sending", "paused"]))
        if only is not None:
            query = query.where(db.sends.c.issue_id == only)
        with db.read(self.engine) as conn:
            return list(conn.execute(query.distinct()).scalars().all())

    def _listing(self, issue_id: str) -> IssueListing | None:
        """The archive listing for a sent issue, or None when its file has gone."""
        from digest.archive import IssueListing
        from digest.errors import DigestError
        from digest.issues import human_date, load_issue

        try:
            issue = load_issue(self.settings, issue_id)
        except DigestError:
            return None  # an issue file removed after sending: leave it out, do not break the archive
        return IssueListing(issue.id, human_date(issue.date), issue.subject)

    def _sent_issues(self) -> list[IssueListing]:
        listings = [listing for issue_id in self._sent_issue_ids() if (listing := self._listing(issue_id))]
        return sorted(listings, key=lambda item: item.issue_id, reverse=True)

    def archive_index(self) -> Response:
        from digest.archive import archive_index

        html = archive_index(self.settings, self._sent_issues(), feed_url="/archive/feed.atom")
        return Response(html, mimetype="text/html")

    def _pages(self, issue_id: str) -> dict[str, str]:
        from digest.archive import archive_pages, frozen_pages
        from digest.issues import load_view

        if not self._sent_issue_ids(only=issue_id) or self._listing(issue_id) is None:
            abort(404)
        frozen = frozen_pages(self.settings, issue_id)
        if frozen is not None:
            return frozen
        return archive_pages(load_view(self.engine, self.settings, issue_id), self.settings)

    def archive_issue(self, issue_id: str) -> Response:
        return Response(self._pages(issue_id)["index.html"], mimetype="text/html")

    def archive_page(self, issue_id: str, page: str) -> Response:
        pages = self._pages(issue_id)
        if page not in pages:
            abort(404)
        return Response(pages[page], mimetype="text/html")

    def archive_feed(self) -> Response:
        from digest.render import environment

        issues = self._sent_issues()
        xml = (
            environment(self.settings, "html")
            .get_template("web/feed.atom.j2")
            .render(
                org=self.settings.organisation,
                base_url=self.settings.base_url,
                issues=issues,
                updated=db.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
        )
        return Response(xml, mimetype="application/atom+xml")


def person_hash(conn: Any, subscriber_id: int) -> str:
    query = sa.select(db.subscribers.c.email_hash).where(db.subscribers.c.id == subscriber_id)
    return str(conn.execute(query).scalar())


def _plain(text: str, status: int) -> Response:
    return Response(text + "\n", status=status, mimetype="text/plain")


def serve(settings: Settings, host: str, port: int, *, threads: int = 8) -> None:
    """Run the application under waitress until interrupted."""
    import waitress

    waitress.serve(create_app(settings), host=host, port=port, threads=threads, ident="digest")
