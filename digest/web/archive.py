"""/archive/: every sent issue (the email's "view in browser" link), its pages and its Atom feed."""

from __future__ import annotations

from flask import Flask, Response, abort

from digest.errors import NotFoundError
from digest.reports import published
from digest.web.context import WebContext


def register(app: Flask, context: WebContext) -> None:
    engine, settings = context.engine, context.settings

    def pages(issue_id: str) -> dict[str, str]:
        try:
            return published.issue_pages(engine, settings, issue_id)
        except NotFoundError:
            abort(404)

    def archive_index() -> Response:
        return Response(published.archive_index_page(engine, settings), mimetype="text/html")

    def archive_issue(issue_id: str) -> Response:
        return Response(pages(issue_id)["index.html"], mimetype="text/html")

    def archive_page(issue_id: str, page: str) -> Response:
        found = pages(issue_id)
        if page not in found:
            abort(404)
        return Response(found[page], mimetype="text/html")

    def archive_feed() -> Response:
        return Response(published.atom_feed(engine, settings), mimetype="application/atom+xml")

    app.add_url_rule("/archive/", "archive_index", archive_index)
    app.add_url_rule("/archive/feed.atom", "archive_feed", archive_feed)
    app.add_url_rule("/archive/<issue_id>/", "archive_issue", archive_issue)
    app.add_url_rule("/archive/<issue_id>/<page>", "archive_page", archive_page)
