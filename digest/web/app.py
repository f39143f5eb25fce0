"""`digest serve`: the readers' side, an ASGI app (Starlette, run by uvicorn).

    GET  /subscribe            a form (CSRF token, honeypot field)
    POST /subscribe            a pending subscriber, and a confirmation message
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
the address is known (the mail goes out after the answer), is limited per client and
per address, and never changes a known address's record. Links in mail are made from
[newsletter] web_url, never from the request's Host header.

Around the pages (digest.web.middleware, digest.web.proxies): the client behind
trusted proxies, an access log without tokens or clear addresses, security headers on
every answer, and bodies capped, typed, same-site and timed before any handler reads
them. digest.web.server runs it under uvicorn with connection limits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from digest.addresses import AddressError, parse_address
from digest.collect.textclean import clean_line
from digest.config.schema import Config
from digest.deliver.confirmation import send_confirmation
from digest.errors import ConfigError
from digest.models import SubscriberStatus
from digest.render.email import Templates, load_templates, site_page
from digest.state.deliveries import Subscriber, Subscribers
from digest.state.store import open_store
from digest.tokens import form_token, form_token_ok, load_secret, make_token, open_token
from digest.web import metrics
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

CONFIRM_SECONDS = 48 * 3600
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
    per_address: Limiter  # one confirmation mail an hour to an address

    @property
    def db(self) -> Path:
        return self.config.state_path

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
                 "hidden": [("csrf", form_token(self.secret, self.clock()))]}]

    def address_of(self, token: str) -> str | None:
        """The address an unsubscribe token was made for (never a confirmation one)."""
        opened = open_token(self.secret, token) if token else None
        return opened if opened and "@" in opened and " " not in opened else None

    def confirmation(self, response: Response, email: str, issued: float) -> Response:
        """`response`, sending `email` a link to confirm after it has gone out."""
        token = make_token(self.secret, f"confirm {int(issued * 1000) + CONFIRM_SECONDS * 1000}"
                                        f" {email}")
        response.background = BackgroundTask(send_confirmation, self.config, email,
                                             f"{self.base}/confirm?token={token}",
                                             CONFIRM_SECONDS // 3600)
        return response


def _readers(request: Request) -> Readers:
    readers: Readers = request.app.state.readers
    return readers


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


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
    open_store(config.state_path).close()  # creates and migrates the database
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

    def wrap(app: ASGIApp) -> ASGIApp:
        app = BodyGuard(app, max_bytes=config.web.max_body_kb * 1024,
                        timeout=config.web.request_timeout,
                        origin=origin_of(config.newsletter.web_url))
        app = SecurityHeaders(app, security_headers(not config.newsletter.assets_url))
        app = AccessLog(app, secret, lambda token: open_token(secret, token) is not None)
        return ClientAddress(app, proxies)

    app = ReadersApp(routes=routes, wrap=wrap)
    db = config.state_path
    app.state.readers = Readers(
        config, secret, config.newsletter.web_url.rstrip("/"), load_templates(config), clock,
        Limiter(SUBSCRIBES_PER_WINDOW, WINDOW_SECONDS, clock, db=db, name="client",
                salt=secret),
        Limiter(1, 3600, clock, db=db, name="address", salt=secret))
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
    if not r.per_client.allow(client):
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
    name = clean_line(" ".join(str(form.get("name", "")).split()))[:200]
    if not r.per_address.allow(email.lower()):
        return done
    issued = r.clock()
    before = await run_in_threadpool(_request, r.db, email, name, _stamp(issued))
    metrics.count("subscribes")
    if before == "active":
        return done  # already subscribed: the same page, nothing sent
    return r.confirmation(done, email, issued)


async def confirm(request: Request) -> Response:
    r = _readers(request)
    token = request.query_params.get("token", "")
    opened = open_token(r.secret, token)
    parts = (opened or "").split(" ")
    if len(parts) != 3 or parts[0] != "confirm" or not parts[1].isdigit():
        return r.page("Confirm", "This link is not valid. Subscribe again to get a new one.",
                      400)
    expires_ms = int(parts[1])
    if r.clock() * 1000 > expires_ms:
        return r.page("Confirm", "This link has expired. Subscribe again to get a new one.",
                      400)
    if request.method != "POST":  # a scanner's GET confirms nothing
        return r.page("Confirm", f"Get {r.name} at this address?",
                      forms=[{"action": f"/confirm?token={token}", "button": "Confirm",
                              "hidden": []}])
    client = request.client.host if request.client else ""
    issued = _stamp(expires_ms / 1000 - CONFIRM_SECONDS)
    outcome = await run_in_threadpool(_confirm, r.db, parts[2], issued, client,
                                      _stamp(r.clock()))
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
    await run_in_threadpool(_set_status, r.db, email, "unsubscribed")
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
        if form.get("action") == "resubscribe" and not r.per_address.allow(email.lower()):
            return r.page("Check your inbox", "A confirmation link went to this address in "
                          "the last hour: follow that one.", 429)
        if form.get("action") == "resubscribe":
            # A token anyone with a forwarded issue holds is no consent: a fresh
            # confirmation to the address is.
            issued = r.clock()
            await run_in_threadpool(_request, r.db, email, "", _stamp(issued))
            return r.confirmation(r.page("Check your inbox", "A message is on its way: "
                                         "follow its link to subscribe again."), email, issued)
        return r.page("Your subscription", "Nothing was changed.", 400)
    return r.page("Your subscription", "Unsubscribe, or subscribe again after unsubscribing.",
                  forms=[{"action": f"/unsubscribe?token={token}", "button": "Unsubscribe",
                          "hidden": []},
                         {"action": f"/manage?token={token}", "button": "Subscribe again",
                          "value": "resubscribe", "hidden": []}])


async def metrics_page(request: Request) -> Response:
    return PlainTextResponse(metrics.render(), headers={
        **HEADERS, "Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


def _request(db: Path, email: str, name: str, now: str) -> str:
    with Subscribers.opened(db) as subscribers:
        return subscribers.request(email, name, now)


def _confirm(db: Path, email: str, issued: str, client: str, now: str) -> str:
    with Subscribers.opened(db) as subscribers:
        return subscribers.confirm(email, issued, client, now)


def _set_status(db: Path, email: str, status: SubscriberStatus) -> None:
    with Subscribers.opened(db) as subscribers:
        known = subscribers.get(email)
        subscribers.upsert([Subscriber(known.email if known else email, status,
                                       known.name if known else "", "web")])


def serve(config: Config, host: str, port: int) -> None:
    """Run the app under uvicorn until SIGTERM or Ctrl-C (see digest.web.server)."""
    # here, not at the top: uvicorn is heavy and only this needs it
    from digest.web.server import run

    app = make_app(config)
    run(app, config, app.state.readers.secret, host, port)
