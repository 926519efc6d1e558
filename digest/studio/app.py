"""The studio's Flask application: routes that read the request, call the library and render a page.

Every request passes :class:`~digest.studio.auth.Gate` first (the token or its
session cookie; the password beyond loopback; a CSRF token and same origin on
POST). GET and HEAD only ever read. A problem a user can cause, whether a bad
form, a broken issue file or a failed import, is a message on the page, never
a traceback.
"""

from __future__ import annotations

import logging
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from flask import Flask, Response, g, redirect, request
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response as AnyResponse

from digest.config import Settings
from digest.errors import DigestError
from digest.issues.issue import ISSUE_FILE, human_date, list_issue_ids, parse_issue_text, read_issue_text
from digest.issues.render import environment
from digest.studio.actions import Outcome, Studio, Upload, import_into_store
from digest.studio.auth import PASSWORD, Gate
from digest.studio.bridge import sent_issues
from digest.studio.corrections import register as register_corrections
from digest.studio.draft import draft_from_issue
from digest.studio.forms import fresh_state, state_from_form
from digest.studio.page import PARTS, code_spans, issue_context
from digest.studio.preview import CopyCache

log = logging.getLogger(__name__)
MAX_REQUEST_BYTES = 20 * 1024 * 1024  # an uploaded newsfeed export or feed, with room to spare
TEMPLATES = (
    "layout.html.j2",
    "index.html.j2",
    "issue.html.j2",
    "message.html.j2",
    "login.html.j2",
    "import_fields.html.j2",
    "corrections.html.j2",
    "correct_story.html.j2",
    "issue_parts.html.j2",
    "parts.html.j2",
)
SCRIPTS = ("studio.js", "drafts.js")  # the page's own scripts (static/), in the order the pages load them
_SAFE_ID = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' https: data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def create_app(settings: Settings, engine: Engine, gate: Gate, *, issue_file: Path | None = None) -> Flask:
    """The studio for one project; ``issue_file`` may lie outside the issues folder (`digest studio PATH`)."""
    app = Flask("digest.studio", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    hops = settings.studio.trusted_proxies
    if hops:
        # Behind the HTTPS proxies named in [studio]: the client's address and scheme are what they
        # appended (so the session cookie is Secure and the browser's https:// Origin matches); the
        # Host header must reach us as the browser sent it.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_port=0, x_prefix=0)  # type: ignore[method-assign]
    site = StudioSite(settings, engine, gate, issue_file)
    app.before_request(site.guard)
    app.after_request(site.finish)
    app.add_url_rule("/", "index", site.index)
    app.add_url_rule("/new", "new", site.new, methods=["POST"])
    app.add_url_rule("/import", "import_articles", site.import_articles, methods=["POST"])
    app.add_url_rule("/issue/<issue_id>", "issue", site.issue, methods=["GET", "POST"])
    app.add_url_rule("/login", "login", site.login, methods=["GET", "POST"])
    app.add_url_rule("/static/<name>", "script", site.script)
    register_corrections(app, site)  # the corrections of a sent issue: pages of their own
    # Browsers ask for an icon on every page; an empty answer keeps a 404 out of the console.
    app.add_url_rule("/favicon.ico", "icon", lambda: Response(status=204))

    @app.errorhandler(404)
    def not_found(_error: Any) -> Response:
        return site.message("Not found", "There is nothing at this address in the studio.", 404)

    @app.errorhandler(405)
    def not_allowed(_error: Any) -> Response:
        return site.message("Not allowed", "The studio does not answer that kind of request here.", 405)

    @app.errorhandler(413)
    def too_large(_error: Any) -> Response:
        limit = MAX_REQUEST_BYTES // (1024 * 1024)
        return site.message("Too large", f"The studio takes uploads of up to {limit} MB; nothing was changed.", 413)

    @app.errorhandler(500)
    def failed(_error: Any) -> Response:
        return site.message(
            "Something went wrong",
            "The studio could not finish that; nothing was saved. The terminal running `digest studio` says why.",
            500,
        )

    app.extensions["digest_studio"] = site
    return app


class StudioSite:
    """The request handlers, bound to one project's settings, database and gate."""

    def __init__(self, settings: Settings, engine: Engine, gate: Gate, issue_file: Path | None) -> None:
        self.settings = settings
        self.engine = engine
        self.gate = gate
        self.issue_file = issue_file.resolve() if issue_file else None
        self.copies = CopyCache()

    # --- the gate ------------------------------------------------------------------------------

    def guard(self) -> AnyResponse | None:
        """Refuse any request without the token or this run's session; check POSTs for CSRF."""
        g.cookie = None
        session = self.gate.read_session(request.cookies.get(self.gate.cookie_name))
        token = request.args.get("token")
        if token is not None:
            if not self.gate.token_ok(token):
                return self.refuse()
            if session is None:
                session, g.cookie = self.gate.open_session()
            if request.method in ("GET", "HEAD"):
                # The cookie holds the session now: take the token out of the address bar and history.
                rest = [(k, v) for k, v in request.args.items(multi=True) if k != "token"]
                target = request.path + (f"?{urlencode(rest)}" if rest else "")
                return redirect(target, 303)
        if session is None:
            return self.refuse()
        g.session = session
        if request.endpoint not in ("login", "script") and not self.gate.admitted(session):
            if request.method in ("GET", "HEAD"):
                return redirect("/login", 303)
            return self.message("Password needed", "Log in with the studio's password first.", 401)
        if request.method == "POST":
            origin = request.headers.get("Origin")
            if origin is not None and origin.rstrip("/") != request.host_url.rstrip("/"):
                return self.message("Refused", "That request came from another site; nothing was changed.", 403)
            given = request.form.get("csrf") or request.headers.get("X-CSRF-Token")
            if not self.gate.csrf_ok(session, given):
                return self.message(
                    "This page has expired",
                    "The studio was restarted or the page is too old; nothing was changed. Open the address "
                    "`digest studio` printed and make the change again.",
                    403,
                )
        return None

    def finish(self, response: Response) -> Response:
        if g.get("cookie"):
            response.set_cookie(
                self.gate.cookie_name, g.cookie, httponly=True, samesite="Strict", secure=request.is_secure
            )
        response.headers["Cache-Control"] = "no-store"
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # Not no-referrer: with it, Chromium sends "Origin: null" on the page's own form posts. The token has
        # left the address before any link can be followed, and other sites still get no referrer.
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Content-Security-Policy", CSP)
        return response

    def refuse(self) -> Response:
        return self.message(
            "This studio is private",
            "Open it with the address `digest studio` printed when it started: that address carries its key.",
            403,
        )

    # --- pages -----------------------------------------------------------------------------------

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        base = {
            "org": self.settings.organisation,
            "language": self.settings.language,
            "home_url": "/",
            "code": code_spans,
        }
        session = g.get("session")
        if session is not None:
            base["csrf"] = self.gate.csrf_token(session)
        try:
            html = environment(self.settings, "html").get_template(f"studio/{template}").render({**base, **context})
        except jinja2.TemplateError as exc:
            # A mistake in a project's templates: say where, never what the values were.
            where = getattr(exc, "lineno", None)
            log.error("templates/studio/%s%s: %s", template, f", line {where}" if where else "", type(exc).__name__)
            html = (
                "<!doctype html><title>Studio</title><p>The studio page could not be shown: "
                f"templates/studio/{template} has a mistake in it.</p>"
            )
            status = 500
        return Response(html, status=status, mimetype="text/html")

    def message(self, title: str, text: str, status: int = 200) -> Response:
        return self.render("message.html.j2", status, title=title, message=text)

    def script(self, name: str) -> Response:
        if name not in SCRIPTS:
            return self.message("Not found", "There is nothing at this address in the studio.", 404)
        data = resources.files("digest.studio").joinpath(f"static/{name}").read_bytes()
        return Response(data, mimetype="text/javascript")

    def _issue_file(self, issue_id: str, *, missing_ok: bool = False) -> Path | None:
        """The issue file an address names: only the one given at start, or one in the issues folder.

        ``missing_ok`` lets a page whose file was deleted meanwhile still be
        answered, so the editor's work is shown rather than lost.
        """
        if self.issue_file is not None and issue_id == self.issue_file.parent.name:
            return self.issue_file
        if not issue_id or issue_id.startswith(".") or any(c not in _SAFE_ID for c in issue_id):
            return None
        path = self.settings.issues_dir / issue_id / ISSUE_FILE
        return path if path.is_file() or (missing_ok and path.parent.is_dir()) else None

    def _issues(self) -> list[dict[str, str]]:
        found = []
        ids = list_issue_ids(self.settings)
        if self.issue_file is not None and self.issue_file.parent.name not in ids:
            ids.append(self.issue_file.parent.name)
        sent = sent_issues(self.engine)
        for issue_id in sorted(ids, reverse=True):
            path = self._issue_file(issue_id)
            if path is None:
                continue
            try:
                issue = parse_issue_text(self.settings, read_issue_text(path), path)
            except DigestError as exc:
                found.append({"id": issue_id, "date": "", "subject": "", "problem": str(exc), "state": ""})
                continue
            state = "Sent" if issue_id in sent else self._approval(path)
            found.append(
                {
                    "id": issue_id,
                    "date": human_date(issue.date),
                    "subject": issue.subject,
                    "problem": "",
                    "state": state,
                }
            )
        return found

    def _approval(self, path: Path) -> str:
        """Where an issue not sent yet stands: approved as it renders now, approved before a change, or a draft."""
        from digest.issues.approval import approval_state, latest_approval

        if latest_approval(self.engine, path.parent.name) is None:
            return "Draft"
        try:
            _approval, current = approval_state(self.engine, self.settings, str(path))
        except DigestError:
            return "Approved, but it no longer renders"
        return "Approved" if current else "Approved, changed since"

    def index(self, outcome: Outcome | None = None, status: int = 200) -> Response:
        return self.render("index.html.j2", status, issues=self._issues(), outcome=outcome or Outcome())

    def new(self) -> AnyResponse:
        from digest.issues.drafting import new_issue

        text = request.form.get("date", "").strip()
        try:
            issue_date = date.fromisoformat(text)
        except ValueError:
            return self.index(
                Outcome(error=f"{text!r} is not a date; pick one in the calendar or write YYYY-MM-DD", at="new")
            )
        try:
            path, _count = new_issue(self.engine, self.settings, issue_date=issue_date)
        except DigestError as exc:
            return self.index(Outcome(error=str(exc), at="new"))
        return redirect(f"/issue/{path.parent.name}", 303)

    def import_articles(self) -> Response:
        upload = self._upload()
        try:
            outcome = import_into_store(
                self.engine,
                self.settings,
                upload,
                request.form.get("import_url", "").strip(),
                request.form.get("import_source", "").strip(),
            )
        except DigestError as exc:
            outcome = Outcome(error=str(exc), at="import")
        return self.index(outcome)

    def _upload(self) -> Upload | None:
        item = request.files.get("import_file")
        if item is None or not item.filename:
            return None
        return Upload(item.filename, item.stream)

    def issue(self, issue_id: str) -> AnyResponse:
        path = self._issue_file(issue_id, missing_ok=request.method == "POST")
        if path is None:
            return self.message(
                "No such issue", f"There is no issue {issue_id!r}; the studio's first page lists them.", 404
            )
        studio = Studio(self.settings, self.engine, path)
        part = "page"
        if request.method == "POST":
            try:
                state = state_from_form(request.form)
            except DigestError as exc:
                return self.message("This page cannot be used", f"{exc}. Nothing was changed.", 400)
            action = request.form.get("action", "preview")
            state, outcome = studio.perform(action, state, self._upload())
            with_approval = action != "preview"
            # The page's script asks for a part of the page while the editor types (see page.py).
            asked = request.headers.get("X-Studio-Part", "page")
            part = asked if action == "preview" and asked in PARTS else "page"
        else:
            try:
                text = read_issue_text(path)
                state = fresh_state(text, draft_from_issue(parse_issue_text(self.settings, text, path)))
            except DigestError as exc:
                return self.message(
                    "This issue file cannot be opened",
                    f"{exc}. Fix it in a text editor (or draft the issue again), then reload this page.",
                )
            outcome, with_approval = Outcome(), True
        try:
            csrf = self.gate.csrf_token(g.session)
            context = issue_context(
                studio, state, outcome, csrf=csrf, with_approval=with_approval, part=part, cache=self.copies
            )
        except DigestError as exc:
            return self.message("This page cannot be shown", f"{exc}. Reload the issue.", 400)
        if part != "page":
            return self.render("issue_parts.html.j2", part=part, **context)
        return self.render("issue.html.j2", **context)

    def login(self) -> AnyResponse:
        if not self.gate.needs_password:
            return redirect("/", 303)
        if request.method == "GET":
            return self.render("login.html.j2", error="")
        verdict = self.gate.check_password(request.remote_addr or "", request.form.get("password", ""))
        if verdict is None:
            return self.render("login.html.j2", 429, error="Too many wrong passwords; wait a few minutes.")
        if not verdict:
            return self.render("login.html.j2", 401, error="That is not the studio's password.")
        session, cookie = self.gate.open_session(PASSWORD)
        g.cookie = cookie
        g.session = session
        return redirect("/", 303)
