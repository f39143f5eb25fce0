"""`digest serve`: the readers' side, an ASGI app (Starlette, run by uvicorn).

    GET  /subscribe            a form (CSRF token, honeypot field)
    POST /subscribe            a pending subscriber, and a confirmation message
    GET  /confirm?token=...    the subscriber becomes active (consent: time and address)
    GET  /unsubscribe?token=   a page with a button; never unsubscribes by itself (mail
                               scanners fetch links)
    POST /unsubscribe?token=   unsubscribes: the button, or RFC 8058 one-click
                               (`List-Unsubscribe=One-Click`); a bad token is 400
    GET  /manage?token=...     unsubscribe or subscribe again
    GET  /healthz              "ok"
    /                          the web archive (`digest publish`), when it exists

Tokens are digest.tokens' sealed, opaque strings: an unsubscribe token is the address
sealed (the one in every issue's List-Unsubscribe); a confirmation token also carries
its expiry. Subscribing answers the same whether or not the address is known, and is
limited per client.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import time
from collections import defaultdict, deque
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .addresses import AddressError, parse_address
from .clock import utcnow
from .config import Config
from .deliveries import Subscriber, Subscribers
from .render import load_templates, site_page
from .store import open_store
from .tokens import load_secret, make_token, open_token

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
        times = self.seen[client]
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.limit:
            return False
        times.append(now)
        return True


def make_app(config: Config, *, clock: Callable[[], float] = time.time) -> Starlette:
    secret = load_secret(config)
    if secret is None:
        from .errors import ConfigError

        raise ConfigError("digest serve needs the token secret: set the environment "
                          f"variable [delivery] secret_env names ({config.delivery.secret_env})")
    store = open_store(config.state_path)  # creates and migrates the database
    store.close()
    templates = load_templates(config)
    limiter = _Limiter(SUBSCRIBES_PER_WINDOW, WINDOW_SECONDS, clock)

    def page(title: str, message: str, status: int = 200, forms: list[dict[str, Any]] | None = None
             ) -> HTMLResponse:
        html = site_page(config, templates, "web/page.html.j2", root="/", title=title,
                         message=message, forms=forms or [])
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    def db() -> sqlite3.Connection:
        conn = sqlite3.connect(str(config.state_path), timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        return conn

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
        name = " ".join(str(form.get("name", "")).split())[:200]
        await run_in_threadpool(_start_subscription, config, db, secret, email, name,
                                str(request.base_url), clock)
        return done

    async def confirm(request: Request) -> Response:
        opened = open_token(secret, request.query_params.get("token", ""))
        parts = (opened or "").split(" ")
        if len(parts) != 3 or parts[0] != "confirm" or not parts[1].isdigit():
            return page("Confirm", "This link is not valid. Subscribe again to get a new one.",
                        400)
        if clock() > int(parts[1]):
            return page("Confirm", "This link has expired. Subscribe again to get a new one.",
                        400)
        email = parts[2]
        client = request.client.host if request.client else ""
        await run_in_threadpool(_activate, db, email, client)
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
            if form.get("action") == "resubscribe":
                await run_in_threadpool(_activate, db, email,
                                        request.client.host if request.client else "")
                return page("Subscribed", "You are subscribed again.")
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
        Route("/confirm", confirm, methods=["GET"]),
        Route("/unsubscribe", unsubscribe_page, methods=["GET"]),
        Route("/unsubscribe", unsubscribe, methods=["POST"]),
        Route("/manage", manage, methods=["GET", "POST"]),
    ]
    site = config.path(config.web.site_dir)
    if site.is_dir():
        routes.append(Mount("/", StaticFiles(directory=site, html=True)))
    return Starlette(routes=routes)


def _mac(secret: bytes, text: str) -> str:
    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()[:32]


def _start_subscription(config: Config, db: Callable[[], sqlite3.Connection], secret: bytes,
                        email: str, name: str, base: str, clock: Callable[[], float]) -> None:
    conn = db()
    try:
        known = {s.email.lower(): s for s in Subscribers(conn).rows()}.get(email.lower())
        if known is not None and known.status == "active":
            return  # already subscribed: the page says the same, nothing is sent
        Subscribers(conn).upsert([Subscriber(email, "pending", name or (known.name if known
                                                                        else ""), "web")])
    finally:
        conn.close()
    expires = int(clock()) + CONFIRM_SECONDS
    link = f"{base.rstrip('/')}/confirm?token={make_token(secret, f'confirm {expires} {email}')}"
    _send_confirmation(config, email, link)


def _activate(db: Callable[[], sqlite3.Connection], email: str, client: str) -> None:
    conn = db()
    try:
        known = {s.email.lower(): s for s in Subscribers(conn).rows()}.get(email.lower())
        Subscribers(conn).upsert([Subscriber(
            known.email if known else email, "active", known.name if known else "", "web",
            confirmed_at=utcnow().isoformat(timespec="seconds"), confirm_ip=client)])
        conn.execute("DELETE FROM suppressions WHERE lower(trim(email)) = ?", (email.lower(),))
    finally:
        conn.close()


def _set_status(db: Callable[[], sqlite3.Connection], email: str, status: str) -> None:
    conn = db()
    try:
        known = {s.email.lower(): s for s in Subscribers(conn).rows()}.get(email.lower())
        Subscribers(conn).upsert([Subscriber(known.email if known else email, status,
                                             known.name if known else "", "web")])
    finally:
        conn.close()


def _send_confirmation(config: Config, email: str, link: str) -> None:
    """Through the configured delivery: SMTP, or a .eml in outbox/confirmations/."""
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
        from .deliver.smtp import _password, _quit, connect

        conn = connect(config.smtp, _password(config.smtp))
        try:
            conn.send_message(message, from_addr=parseaddr(config.sender)[1], to_addrs=[email])
        finally:
            _quit(conn)
        return
    folder = config.outbox_path / "confirmations"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{utcnow().strftime('%Y%m%dT%H%M%S')}-{hashlib.sha256(email.encode()).hexdigest()[:12]}"
    temp = folder / f".{name}.tmp"
    temp.write_bytes(bytes(message))
    temp.replace(folder / f"{name}.eml")


def serve(config: Config, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(make_app(config), host=host, port=port, log_level="info",
                proxy_headers=True, forwarded_allow_ips="127.0.0.1")

