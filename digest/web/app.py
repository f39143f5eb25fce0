"""`digest serve`: the readers' side, an ASGI app (Starlette, run by uvicorn).

    GET  /subscribe            a form (CSRF token, honeypot field)
    POST /subscribe            a pending subscriber, and a confirmation mail queued
    GET  /confirm?token=...    a page with a button (link scanners fetch links)
    POST /confirm?token=...    the subscriber becomes active (consent: time and address)
    GET  /unsubscribe?token=   a page with a button; never unsubscribes by itself (mail
                               scanners fetch links)
    POST /unsubscribe?token=   unsubscribes: the button, or RFC 8058 one-click
                               (`List-Unsubscribe=One-Click`); a bad token is 400
    GET  /manage?token=...     unsubscribe, or ask for a confirmation to subscribe again
    GET  /healthz              "ok", or 503 naming the check that failed (digest.web.health)
    GET  /metrics              Prometheus counters, with `[web] metrics = true`
    /                          the web archive (`digest publish`), once it exists

Tokens are digest.tokens' sealed, opaque strings: an unsubscribe token is the address
sealed (the one in every issue's List-Unsubscribe); a confirmation token also carries
when it was made, is spent once the address changes status after that, and expires.
Only a confirmation makes anyone active. Subscribing answers the same whether or not
the address is known, doing the same work either way (Subscribers.request), is limited
per client, and never changes a known address's record. The confirmation mail is queued
in the state database in the sign-up's transaction and sent by the worker thread
(digest.deliver.confirm_queue), never in a request; at most one is sent an hour to an
address, none to an active, bounced or complained one. Links in mail are made from
[newsletter] web_url, never from the request's Host header.

Around the pages (digest.web.middleware, digest.web.proxies): the client behind
trusted proxies, an access log without tokens or clear addresses, security headers on
every answer, and bodies capped, typed, same-site and timed before any handler reads
them. digest.web.server runs it under uvicorn with connection limits.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from digest import metrics
from digest.addresses import AddressError, clean_name, parse_address
from digest.config.schema import Config
from digest.curate.topics import read_topics, topics_text
from digest.deliver.confirm_queue import ConfirmationWorker
from digest.deliver.confirmation import CONFIRM_SECONDS
from digest.deliver.zones import clean_zone
from digest.errors import ConfigError
from digest.render.email import Templates, load_templates, site_page
from digest.state.deliveries import RequestOutcome, Subscribers, stamp_ms
from digest.state.store import open_store
from digest.state.topics import set_topics, topics_of
from digest.state.zones import set_pending_zone
from digest.tokens import form_token, form_token_ok, load_secret, open_token
from digest.web import zone_field
from digest.web.archive import Archive
from digest.web.health import healthz
from digest.web.limits import Limiter
from digest.web.middleware import (
    AccessLog,
    BodyGuard,
    SecurityHeaders,
    origin_of,
    security_headers,
)
from digest.web.proxies import ClientAddress, TrustedProxies
from digest.web.site import MARKER

FORM_SECONDS = 2 * 3600
SUBSCRIBES_PER_WINDOW, WINDOW_SECONDS = 5, 600
HEADERS = {"Cache-Control": "no-store"}  # and digest.web.middleware's on every answer


@dataclass
class Readers:
    """What every handler needs, on `app.state.readers`."""

    config: Config
    secret: bytes
    base: str  # [newsletter] web_url, without a trailing slash: links in mail start here
    templates: Templates
    clock: Callable[[], float]
    per_client: Limiter

    @property
    def db(self) -> Path | str:
        return self.config.state_db

    @property
    def name(self) -> str:
        return self.config.newsletter.name

    def page(self, title: str, message: str, status: int = 200,
             forms: list[dict[str, Any]] | None = None) -> HTMLResponse:
        html = site_page(self.config, self.templates, "web/page.html.j2", root="/", title=title,
                         message=message, forms=forms or [])
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    def subscribe_forms(self) -> list[dict[str, Any]]:
        return [{"action": "/subscribe", "email": True, "button": "Subscribe",
                 "topics": self.topic_boxes(""),
                 "hidden": [("csrf", form_token(self.secret, self.clock())),
                            (zone_field.FIELD, "")],
                 "script": zone_field.script()}]  # fills in the browser's time zone

    def topic_boxes(self, ticked: str) -> list[dict[str, Any]]:
        """The [[topics]] tick boxes, those in `ticked` ("a|b") ticked."""
        chosen = set(ticked.split("|"))
        return [{"name": t.name, "description": t.description, "checked": t.name in chosen}
                for t in self.config.topics]

    def ticked(self, values: list[str]) -> str | None:
        """A form's ticked topics as stored ("a|b"); None when one is not a topic of the
        config (the form was not ours)."""
        known, unknown = read_topics("|".join(values), self.config)
        if unknown or any("|" in v for v in values):
            return None
        return topics_text(known)

    def address_of(self, token: str) -> str | None:
        """The address an unsubscribe token was made for (never a confirmation one)."""
        opened = open_token(self.secret, token) if token else None
        return opened if opened and "@" in opened and " " not in opened else None

    def now_ms(self) -> int:
        """The clock in integer milliseconds: the one time the confirmation token and
        the subscribers table share (Subscribers.request and .confirm)."""
        return int(self.clock() * 1000)

    async def request(self, email: str, name: str, topics: str = "",
                      zone: str = "") -> RequestOutcome:
        """Record a sign-up and queue its confirmation mail (one transaction); the
        worker finds it on its next look (within a second). `topics` go to a new
        address's record only; `zone`: the browser's time zone, checked
        (digest.web.zone_field)."""
        outcome = await run_in_threadpool(_request, self.db, email, name, self.now_ms(),
                                          topics, zone)
        if outcome == "queued":
            metrics.count("confirmations_queued")
        return outcome


def _readers(request: Request) -> Readers:
    readers: Readers = request.app.state.readers
    return readers


class ReadersApp(Starlette):
    """Starlette with digest's layers outside even its error handler, so a 500 has
    the security headers and its access line too."""

    def __init__(self, *args: Any, wrap: Callable[[ASGIApp], ASGIApp], **kwargs: Any) -> None:
        self.wrap = wrap
        super().__init__(*args, **kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        return self.wrap(super().build_middleware_stack())


def make_app(config: Config, *, clock: Callable[[], float] = time.time) -> Starlette:
    if not config.newsletter.web_url:
        raise ConfigError("digest serve needs [newsletter] web_url: the public base URL of "
                          "this server, from which confirmation links are made")
    secret = load_secret(config)
    if secret is None:
        raise ConfigError("digest serve needs the token secret: set the environment "
                          f"variable [delivery] secret_env names ({config.delivery.secret_env})")
    open_store(config.state_db).close()  # creates and migrates the database
    proxies = TrustedProxies(config.web.trusted_proxies)
    routes: list[Any] = [
        Route("/healthz", healthz),
        Route("/subscribe", subscribe_form, methods=["GET"]),
        Route("/subscribe", subscribe, methods=["POST"]),
        Route("/confirm", confirm, methods=["GET", "POST"]),
        Route("/unsubscribe", unsubscribe_page, methods=["GET"]),
        Route("/unsubscribe", unsubscribe, methods=["POST"]),
        Route("/manage", manage, methods=["GET", "POST"]),
    ]
    if config.web.metrics:
        routes.append(Route("/metrics", metrics_page))
    # Looked up per request: a site published (or a symlink swapped) after the start is
    # served; only a site `digest publish` wrote, never the config's folder.
    routes.append(Mount("/", Archive(config.path(config.web.site_dir), MARKER)))
    base = config.newsletter.web_url.rstrip("/")
    worker = ConfirmationWorker(config, secret, base, clock)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        worker.start()  # queued mails, a server killed mid-send's too, go out now
        try:
            yield
        finally:
            worker.stop()

    def wrap(app: ASGIApp) -> ASGIApp:
        app = BodyGuard(app, max_bytes=config.web.max_body_kb * 1024,
                        timeout=config.web.request_timeout,
                        origin=origin_of(config.newsletter.web_url))
        app = SecurityHeaders(app, security_headers(not config.newsletter.assets_url))
        app = AccessLog(app, secret, lambda token: open_token(secret, token) is not None)
        return ClientAddress(app, proxies)

    app = ReadersApp(routes=routes, wrap=wrap, lifespan=lifespan)
    app.state.readers = Readers(
        config, secret, base, load_templates(config), clock,
        Limiter(SUBSCRIBES_PER_WINDOW, WINDOW_SECONDS, clock, db=config.state_db,
                name="client", salt=secret))
    return app


async def subscribe_form(request: Request) -> Response:
    r = _readers(request)
    return r.page("Subscribe", f"Get {r.name} by email. We will send you a message to confirm "
                  "the address.", forms=r.subscribe_forms())


async def subscribe(request: Request) -> Response:
    r = _readers(request)
    form = await request.form()
    client = request.client.host if request.client else "unknown"
    if not form_token_ok(r.secret, str(form.get("csrf", "")), r.clock(), FORM_SECONDS):
        return r.page("Subscribe", "This form has expired; please load it again.", 400)
    # In a thread: the limit's row waits for a writer holding the database (a send,
    # an import) up to its busy timeout, and on the event loop that froze every page.
    if not await run_in_threadpool(r.per_client.allow, client):
        return r.page("Subscribe", "Too many requests from your address; please try again "
                      "in a few minutes.", 429)
    done = r.page("Check your inbox", "If the address can receive mail, a message is on its "
                  "way: follow its link to confirm your subscription.")
    if str(form.get("website", "")).strip():  # the honeypot: a bot filled it in
        return done
    try:
        email = parse_address(str(form.get("email", "")).strip()).email
    except AddressError as e:
        return r.page("Subscribe", f"That is not an email address we can use ({e}).", 400,
                      forms=r.subscribe_forms())
    name = clean_name(str(form.get("name", "")))
    topics = r.ticked([str(v) for v in form.getlist("topics")])
    if topics is None:
        return r.page("Subscribe", "That is not a topic of this newsletter; please tick the "
                      "topics on the form.", 400, forms=r.subscribe_forms())
    zone = clean_zone(str(form.get(zone_field.FIELD, "")))  # unknown: the newsletter's
    metrics.count("subscribes")
    # Known or new, active, suppressed or just mailed: the same work and the same page.
    await r.request(email, name, topics, zone)
    return done


async def confirm(request: Request) -> Response:
    r = _readers(request)
    token = request.query_params.get("token", "")
    opened = open_token(r.secret, token)
    parts = (opened or "").split(" ")
    if len(parts) != 3 or parts[0] != "confirm" or not parts[1].isdigit():
        return r.page("Confirm", "This link is not valid. Subscribe again to get a new one.",
                      400)
    expires_ms = int(parts[1])
    if r.now_ms() > expires_ms:
        return r.page("Confirm", "This link has expired. Subscribe again to get a new one.",
                      400)
    if request.method != "POST":  # a scanner's GET confirms nothing
        return r.page("Confirm", f"Get {r.name} at this address?",
                      forms=[{"action": f"/confirm?token={token}", "button": "Confirm",
                              "hidden": []}])
    client = request.client.host if request.client else ""
    issued_ms = expires_ms - CONFIRM_SECONDS * 1000  # integers: the stored time exactly
    outcome = await run_in_threadpool(_confirm, r.db, parts[2], issued_ms, client,
                                      r.now_ms())
    if outcome == "refused":
        return r.page("Confirm", "This link is no longer valid. Subscribe again to get a "
                      "new one.", 400)
    metrics.count("confirmations")
    return r.page("Subscribed", f"Thank you: {r.name} will come to this address from the next "
                  "issue on.")


async def unsubscribe_page(request: Request) -> Response:
    r = _readers(request)
    token = request.query_params.get("token", "")
    if r.address_of(token) is None:
        return r.page("Unsubscribe", "This link is not valid.", 400)
    return r.page("Unsubscribe", f"Stop sending {r.name} to this address?",
                  forms=[{"action": f"/unsubscribe?token={token}", "button": "Unsubscribe",
                          "hidden": []}])


async def unsubscribe(request: Request) -> Response:
    r = _readers(request)
    email = r.address_of(request.query_params.get("token", ""))
    if email is None:
        return r.page("Unsubscribe", "This link is not valid; nothing was changed.", 400)
    await run_in_threadpool(_unsubscribe, r.db, email, r.now_ms())
    metrics.count("unsubscribes")
    return r.page("Unsubscribed", f"You will get no more issues of {r.name} at this address.")


async def manage(request: Request) -> Response:
    r = _readers(request)
    token = request.query_params.get("token", "")
    email = r.address_of(token)
    if email is None:
        return r.page("Your subscription", "This link is not valid.", 400)
    if request.method == "POST":
        form = await request.form()
        if not form_token_ok(r.secret, str(form.get("csrf", "")), r.clock(), FORM_SECONDS):
            return r.page("Your subscription", "This form has expired; please load it "
                          "again.", 400)
        if form.get("action") == "resubscribe":
            # A token anyone with a forwarded issue holds is no consent: a confirmation
            # mail the owner clicks is. None goes to an active, bounced or complained
            # address, and the page says the same as when one goes.
            if await r.request(email, "") == "slot":
                return r.page("Check your inbox", "A confirmation link went to this "
                              "address in the last hour: follow that one.", 429)
            return r.page("Check your inbox", "If this address can get the newsletter, a "
                          "message is on its way: follow its link to subscribe again.")
        if form.get("action") == "topics" and r.config.topics:
            return await _save_topics(r, email, [str(v) for v in form.getlist("topics")])
        return r.page("Your subscription", "Nothing was changed.", 400)
    forms: list[dict[str, Any]] = [
        {"action": f"/unsubscribe?token={token}", "button": "Unsubscribe", "hidden": []},
        {"action": f"/manage?token={token}", "button": "Subscribe again",
         "value": "resubscribe", "hidden": [("csrf", form_token(r.secret, r.clock()))]}]
    if r.config.topics:
        ticked = await run_in_threadpool(_topics_of, r.db, email)
        forms.insert(0, {"action": f"/manage?token={token}", "button": "Save topics",
                         "value": "topics", "topics": r.topic_boxes(ticked),
                         "hidden": [("csrf", form_token(r.secret, r.clock()))]})
    return r.page("Your subscription", "Choose your topics, unsubscribe, or subscribe again "
                  "after unsubscribing." if r.config.topics else
                  "Unsubscribe, or subscribe again after unsubscribing.", forms=forms)


async def _save_topics(r: Readers, email: str, values: list[str]) -> Response:
    """The manage page's topics form: only names of [[topics]]; none ticked means
    everything."""
    topics = r.ticked(values)
    if topics is None:
        return r.page("Your subscription", "That is not a topic of this newsletter; nothing "
                      "was changed.", 400)
    if not await run_in_threadpool(_set_topics, r.db, email, topics):
        return r.page("Your subscription", "This address is not on the subscriber list; "
                      "nothing was changed.", 400)
    return r.page("Your subscription", "Your topics are saved: the next issue follows them."
                  if topics else "Saved: you get every story, whatever its topic.")


async def metrics_page(request: Request) -> Response:
    return PlainTextResponse(metrics.render(), headers={
        **HEADERS, "Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


def _request(db: Path | str, email: str, name: str, now_ms: int, topics: str = "",
             zone: str = "") -> RequestOutcome:
    with Subscribers.opened(db) as subscribers:
        outcome = subscribers.request(email, name, now_ms)
        if topics:  # the same statement for a known address as a new one: it changes none
            set_topics(subscribers.conn, [(email, topics)], only_new_since=stamp_ms(now_ms))
        # Every outcome writes the row once more, so a known address still answers
        # as fast as a new one; only a pending one's zone changes.
        set_pending_zone(subscribers.conn, email.lower(), zone)
        return outcome


def _topics_of(db: Path | str, email: str) -> str:
    with Subscribers.opened(db) as subscribers:
        return topics_of(subscribers.conn, email)


def _set_topics(db: Path | str, email: str, topics: str) -> bool:
    with Subscribers.opened(db) as subscribers:
        return set_topics(subscribers.conn, [(email, topics)]) > 0


def _confirm(db: Path | str, email: str, issued_ms: int, client: str, now_ms: int) -> str:
    with Subscribers.opened(db) as subscribers:
        return subscribers.confirm(email, issued_ms, client, now_ms)


def _unsubscribe(db: Path | str, email: str, now_ms: int) -> None:
    with Subscribers.opened(db) as subscribers:
        subscribers.unsubscribe(email, now_ms)


def serve(config: Config, host: str, port: int) -> None:
    """Run the app under uvicorn until SIGTERM or Ctrl-C (see digest.web.server)."""
    # here, not at the top: uvicorn is heavy and only this needs it
    from digest.web.server import run

    app = make_app(config)
    run(app, config, app.state.readers.secret, host, port)
