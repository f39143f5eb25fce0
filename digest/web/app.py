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
    GET  /healthz              "ok"
    /                          the web archive (`digest publish`), when it exists

Tokens are digest.tokens' sealed, opaque strings: an unsubscribe token is the address
sealed (the one in every issue's List-Unsubscribe); a confirmation token also carries
when it was made, is spent once the address changes status after that, and expires.
Only a confirmation makes anyone active. Subscribing answers the same whether or not
the address is known (the mail goes out after the answer), is limited per client and
per address, and never changes a known address's record. Links in mail are made from
[newsletter] web_url, never from the request's Host header.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from digest.addresses import AddressError, parse_address
from digest.clock import utcnow
from digest.collect.textclean import clean_line
from digest.config.load import Config
from digest.deliver.connection import connection
from digest.errors import ConfigError
from digest.models import SubscriberStatus
from digest.render.email import load_templates, site_page
from digest.state.deliveries import Subscriber, Subscribers
from digest.state.store import open_store
from digest.tokens import load_secret, make_token, open_token
from digest.web.site import MARKER

CONFIRM_SECONDS = 48 * 3600
FORM_SECONDS = 2 * 3600
SUBSCRIBES_PER_WINDOW, WINDOW_SECONDS = 5, 600
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' https: data:; "
                               "style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # tokens ride in URLs
    "Cache-Control": "no-store",
}


class _Limiter:
    """At most `limit` events per `window` seconds for one client."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float]) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self.seen: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, client: str) -> bool:
        now = self.clock()
        key = _network(client)
        times = self.seen[key]
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.limit:
            return False
        times.append(now)
        if len(self.seen) > 10_000:  # forget clients idle for a whole window
            for idle in [k for k, t in self.seen.items() if not t or t[-1] <= now - self.window]:
                del self.seen[idle]
        return True


def _network(client: str) -> str:
    """An IPv6 client by its /64 (one host has billions of addresses); others as given."""
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return client
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return client


def make_app(config: Config, *, clock: Callable[[], float] = time.time) -> Starlette:

    if not config.newsletter.web_url:
        raise ConfigError("digest serve needs [newsletter] web_url: the public base URL of "
                          "this server, from which confirmation links are made")
    base = config.newsletter.web_url.rstrip("/")
    secret = load_secret(config)
    if secret is None:
        raise ConfigError("digest serve needs the token secret: set the environment "
                          f"variable [delivery] secret_env names ({config.delivery.secret_env})")
    store = open_store(config.state_path)  # creates and migrates the database
    store.close()
    templates = load_templates(config)
    limiter = _Limiter(SUBSCRIBES_PER_WINDOW, WINDOW_SECONDS, clock)
    per_address = _Limiter(1, 3600, clock)  # one confirmation mail an hour to an address

    def stamp(seconds: float) -> str:
        return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")

    def page(title: str, message: str, status: int = 200, forms: list[dict[str, Any]] | None = None
             ) -> HTMLResponse:
        html = site_page(config, templates, "web/page.html.j2", root="/", title=title,
                         message=message, forms=forms or [])
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    db = config.state_path

    def form_token() -> str:
        stamp = str(int(clock()))
        return f"{stamp}.{_mac(secret, 'form ' + stamp)}"

    def form_token_ok(token: str) -> bool:
        stamp, _, mac = token.partition(".")
        if not stamp.isdigit() or not hmac.compare_digest(mac, _mac(secret, "form " + stamp)):
            return False
        return 0 <= clock() - int(stamp) <= FORM_SECONDS

    def address_of(token: str) -> str | None:
        """The address an unsubscribe token was made for (never a confirmation one)."""
        opened = open_token(secret, token) if token else None
        return opened if opened and "@" in opened and " " not in opened else None

    async def subscribe_form(request: Request) -> Response:
        return page("Subscribe", f"Get {config.newsletter.name} by email. We will send you a "
                    "message to confirm the address.",
                    forms=[{"action": "/subscribe", "email": True, "button": "Subscribe",
                            "hidden": [("csrf", form_token())]}])

    async def subscribe(request: Request) -> Response:
        form = await request.form()
        client = request.client.host if request.client else "unknown"
        if not form_token_ok(str(form.get("csrf", ""))):
            return page("Subscribe", "This form has expired; please load it again.", 400)
        if not limiter.allow(client):
            return page("Subscribe", "Too many requests from your address; please try again "
                        "in a few minutes.", 429)
        done = page("Check your inbox", "If the address can receive mail, a message is on its "
                    "way: follow its link to confirm your subscription.")
        if str(form.get("website", "")).strip():  # the honeypot: a bot filled it in
            return done
        try:
            email = parse_address(str(form.get("email", "")).strip()).email
        except AddressError as e:
            return page("Subscribe", f"That is not an email address we can use ({e}).", 400,
                        forms=[{"action": "/subscribe", "email": True, "button": "Subscribe",
                                "hidden": [("csrf", form_token())]}])
        name = clean_line(" ".join(str(form.get("name", "")).split()))[:200]
        if not per_address.allow(email.lower()):
            return done
        issued = clock()
        before = await run_in_threadpool(_request, db, email, name, stamp(issued))
        if before == "active":
            return done  # already subscribed: the same page, nothing sent
        token = make_token(secret, f"confirm {int(issued * 1000) + CONFIRM_SECONDS * 1000} "
                                   f"{email}")
        done.background = BackgroundTask(_send_confirmation, config, email,
                                         f"{base}/confirm?token={token}")
        return done

    async def confirm(request: Request) -> Response:
        token = request.query_params.get("token", "")
        opened = open_token(secret, token)
        parts = (opened or "").split(" ")
        if len(parts) != 3 or parts[0] != "confirm" or not parts[1].isdigit():
            return page("Confirm", "This link is not valid. Subscribe again to get a new one.",
                        400)
        expires_ms = int(parts[1])
        if clock() * 1000 > expires_ms:
            return page("Confirm", "This link has expired. Subscribe again to get a new one.",
                        400)
        if request.method != "POST":  # a scanner's GET confirms nothing
            return page("Confirm", f"Get {config.newsletter.name} at this address?",
                        forms=[{"action": f"/confirm?token={token}", "button": "Confirm",
                                "hidden": []}])
        client = request.client.host if request.client else ""
        issued = stamp(expires_ms / 1000 - CONFIRM_SECONDS)
        outcome = await run_in_threadpool(_confirm, db, parts[2], issued, client,
                                          stamp(clock()))
        if outcome == "refused":
            return page("Confirm", "This link is no longer valid. Subscribe again to get a "
                        "new one.", 400)
        return page("Subscribed", f"Thank you: {config.newsletter.name} will come to this "
                    "address from the next issue on.")

    async def unsubscribe_page(request: Request) -> Response:
        token = request.query_params.get("token", "")
        if address_of(token) is None:
            return page("Unsubscribe", "This link is not valid.", 400)
        return page("Unsubscribe", f"Stop sending {config.newsletter.name} to this address?",
                    forms=[{"action": f"/unsubscribe?token={token}", "button": "Unsubscribe",
                            "hidden": []}])

    async def unsubscribe(request: Request) -> Response:
        email = address_of(request.query_params.get("token", ""))
        if email is None:
            return page("Unsubscribe", "This link is not valid; nothing was changed.", 400)
        await run_in_threadpool(_set_status, db, email, "unsubscribed")
        return page("Unsubscribed", f"You will get no more issues of "
                    f"{config.newsletter.name} at this address.")

    async def manage(request: Request) -> Response:
        token = request.query_params.get("token", "")
        email = address_of(token)
        if email is None:
            return page("Your subscription", "This link is not valid.", 400)
        if request.method == "POST":
            form = await request.form()
            if form.get("action") == "resubscribe" and not per_address.allow(email.lower()):
                return page("Check your inbox", "A confirmation link went to this address in "
                            "the last hour: follow that one.", 429)
            if form.get("action") == "resubscribe":
                # A token anyone with a forwarded issue holds is no consent: a fresh
                # confirmation to the address is.
                issued = clock()
                await run_in_threadpool(_request, db, email, "", stamp(issued))
                fresh = make_token(secret, f"confirm {int(issued * 1000) + CONFIRM_SECONDS * 1000}"
                                           f" {email}")
                response = page("Check your inbox", "A message is on its way: follow its "
                                "link to subscribe again.")
                response.background = BackgroundTask(_send_confirmation, config, email,
                                                     f"{base}/confirm?token={fresh}")
                return response
            return page("Your subscription", "Nothing was changed.", 400)
        return page("Your subscription", "Unsubscribe, or subscribe again after unsubscribing.",
                    forms=[{"action": f"/unsubscribe?token={token}", "button": "Unsubscribe",
                            "hidden": []},
                           {"action": f"/manage?token={token}", "button": "Subscribe again",
                            "value": "resubscribe", "hidden": []}])

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok", headers=HEADERS)

    routes: list[Any] = [
        Route("/healthz", healthz),
        Route("/subscribe", subscribe_form, methods=["GET"]),
        Route("/subscribe", subscribe, methods=["POST"]),
        Route("/confirm", confirm, methods=["GET", "POST"]),
        Route("/unsubscribe", unsubscribe_page, methods=["GET"]),
        Route("/unsubscribe", unsubscribe, methods=["POST"]),
        Route("/manage", manage, methods=["GET", "POST"]),
    ]
    site = config.path(config.web.site_dir)
    if (site / MARKER).is_file():  # only a site `digest publish` wrote: never the config's
        routes.append(Mount("/", StaticFiles(directory=site, html=True)))
    return Starlette(routes=routes)


def _mac(secret: bytes, text: str) -> str:
    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()[:32]


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


def _send_confirmation(config: Config, email: str, link: str) -> None:
    """Through the configured delivery: SMTP, or a .eml in outbox/confirmations/. Runs
    after the answer; a failure is logged (the address stays pending: subscribing
    again sends a new link)."""
    try:
        _deliver_confirmation(config, email, link)
    except Exception as e:  # noqa: BLE001 - the reader already has their answer
        logging.getLogger("digest.web.app").error("confirmation to %s not sent: %s", email, e)


def _deliver_confirmation(config: Config, email: str, link: str) -> None:
    nl = config.newsletter
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = email
    message["Subject"] = f"Confirm your subscription to {nl.name}"
    message["Date"] = format_datetime(utcnow())
    domain = parseaddr(config.sender)[1].rpartition("@")[2] or "digest.invalid"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(
        f"Someone (we hope you) asked to get {nl.name} at this address.\n\n"
        f"To confirm, open this link within 48 hours:\n{link}\n\n"
        "If it was not you, do nothing: without a confirmation you will get nothing.\n")
    if config.delivery.mode == "smtp":

        with connection(config.smtp) as conn:
            conn.send_message(message, from_addr=parseaddr(config.sender)[1], to_addrs=[email])
        return
    folder = config.outbox_path / "confirmations"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{utcnow().strftime('%Y%m%dT%H%M%S')}-{hashlib.sha256(email.encode()).hexdigest()[:12]}"
    temp = folder / f".{name}.tmp"
    temp.write_bytes(bytes(message))
    temp.replace(folder / f"{name}.eml")


def serve(config: Config, host: str, port: int) -> None:
    # here, not at the top: uvicorn is heavy and only this needs it
    import uvicorn

    uvicorn.run(make_app(config), host=host, port=port, log_level="info",
                proxy_headers=True, forwarded_allow_ips="127.0.0.1")

