"""The links in every email: /unsubscribe/<token> and /preferences/<token>.

Only a POST changes anything: a GET or HEAD (mail scanners follow links, some
with HEAD) shows a button. The RFC 8058 one-click POST (body
``List-Unsubscribe=One-Click``) unsubscribes at once. A forged or altered token
changes nothing and shows a plain error.
"""

from __future__ import annotations

from flask import Flask, Response, request

from digest.people import subscriptions
from digest.web.context import WebContext, plain

ONE_CLICK_BODY = "List-Unsubscribe=One-Click"


def register(app: Flask, context: WebContext) -> None:
    engine, settings = context.engine, context.settings

    def unsubscribe(token: str) -> Response:
        link = subscriptions.resolve_link(engine, context.secret, token)
        if link is None:
            return context.bad_link()
        if request.method != "POST":  # GET and HEAD (link scanners) only look
            return context.page(
                "unsubscribe.html.j2",
                token=token,
                preferences_url=f"/preferences/{token}",
                status_now=subscriptions.reader(engine, link.subscriber_id).status,
            )
        one_click = request.get_data(as_text=True).strip() == ONE_CLICK_BODY or (
            request.form.get("List-Unsubscribe") == "One-Click"
        )
        subscriptions.unsubscribe_by_link(engine, link, one_click=one_click)
        if one_click:
            return plain("unsubscribed", 200)
        return context.page("unsubscribed.html.j2", preferences_url=f"/preferences/{token}")

    def preferences(token: str) -> Response:
        link = subscriptions.resolve_link(engine, context.secret, token)
        if link is None:
            return context.bad_link()
        saved = ""
        if request.method == "POST":  # only a POST changes anything; GET and HEAD only look
            action = request.form.get("action", "save")
            if action == "save":
                if subscriptions.save_topics(engine, settings, link.subscriber_id, request.form.getlist("topics")):
                    saved = "Your choices are saved."
            elif action == "resubscribe":
                if subscriptions.resubscribe(engine, link.subscriber_id):
                    saved = "Welcome back: you will receive the digest again."
            elif action == "unsubscribe":
                subscriptions.unsubscribe_on_preferences(engine, link.subscriber_id)
                saved = "You are unsubscribed."
        person = subscriptions.reader(engine, link.subscriber_id)
        known = {rule.slug for rule in settings.topics}
        return context.page(
            "preferences.html.j2",
            token=token,
            topics=[{"slug": rule.slug, "label": rule.label} for rule in settings.topics],
            chosen=set(person.topics) or known,
            status_now=person.status,
            can_resubscribe=subscriptions.may_resubscribe(engine, link.subscriber_id),
            saved=saved,
            first_name=person.first_name,
        )

    app.add_url_rule("/unsubscribe/<token>", "unsubscribe", unsubscribe, methods=["GET", "POST"])
    app.add_url_rule("/preferences/<token>", "preferences", preferences, methods=["GET", "POST"])
