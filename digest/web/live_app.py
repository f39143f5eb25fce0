"""The page of `digest preview --serve`: a small Starlette app over a LivePreview
(digest.web.live), meant for the editor's own machine (loopback by default).

    GET  /                           the page: the issue at 600 px, at 375 px and in
                                     dark mode (375 px) side by side, the linter's
                                     findings, the render's notes, the last error
    GET  /live.js                    its script (the page's CSP allows no inline script)
    GET  /status?after=N             the status as JSON, once its version is past N
                                     (a long poll, answered after WAIT seconds at most)
    POST /refresh                    fetch the feeds again (needs X-Digest-Preview: 1)
    GET  /issue/<id>/email.html      a render's email.html; dark.html its dark view;
         /issue/<id>/images/<name>   its pictures (assets_url), local/<n> its pictures
                                     on disk (file: URLs a page over http cannot show)

The page follows the long poll and points its frames at the new render when there is
one, so a save shows without a reload. Everything it shows comes from the status as
text (textContent), never as markup: error messages carry feed and template text.
The frames are sandboxed without scripts; the email's answers forbid script too.

A request whose Host is not the address the server listens on is refused, so a web
page elsewhere cannot read the preview through a DNS name rebound to 127.0.0.1; the
one request that acts (POST /refresh) needs a header no cross-site form can send.
"""

from __future__ import annotations

import asyncio
import mimetypes
import time
from collections.abc import Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from digest.web.live import PICTURE_SUFFIXES, LivePreview, Render, Status

WAIT = 20.0  # seconds a long poll is held open
WAKE = 0.05  # seconds between two looks at the status while one is held
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self'; connect-src 'self'; frame-src 'self'; frame-ancestors 'none'; "
            "base-uri 'none'; form-action 'none'")
# The email as a mail client shows it: its pictures and web fonts from anywhere, its
# inline styles, no script, no form.
EMAIL_CSP = ("default-src 'none'; img-src 'self' http: https: data:; "
             "style-src 'unsafe-inline' http: https:; font-src http: https: data:; "
             "frame-ancestors 'self'; base-uri 'self'; form-action 'none'; "
             "sandbox allow-same-origin allow-popups allow-popups-to-escape-sandbox")
COMMON = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer",
          "cache-control": "no-store"}
REFRESH_HEADER = "x-digest-preview"
LINKS_OUT = '<base target="_blank">'  # a link opens a tab, not inside the frame

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>digest live preview</title>
<style>
  body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: #e8e8e8; color: #222; }
  header { padding: 8px 16px; background: #fff; border-bottom: 1px solid #ccc;
           display: flex; gap: 16px; align-items: baseline; flex-wrap: wrap; }
  header h1 { font-size: 16px; margin: 0; }
  .quiet { color: #666; }
  #error { margin: 0; padding: 10px 16px; background: #b00020; color: #fff;
           white-space: pre-wrap; font-family: ui-monospace, monospace; }
  #findings { margin: 0; padding: 8px 16px 8px 36px; background: #fffbe6;
              border-bottom: 1px solid #e0d8a8; }
  #findings:empty { display: none; }
  #findings li.error { color: #b00020; }
  main { display: flex; gap: 16px; padding: 16px; align-items: flex-start; overflow-x: auto; }
  figure { margin: 0; flex: none; }
  figcaption { font-weight: 600; margin-bottom: 4px; }
  iframe { display: block; border: 0; background: #fff; box-shadow: 0 1px 4px #0003; }
  iframe.dark { background: #121212; }
</style>
<script src="/live.js" defer></script>
</head><body>
<header>
  <h1 id="title">digest live preview</h1>
  <span id="took" class="quiet"></span>
  <span id="collected" class="quiet"></span>
  <span id="busy" hidden>fetching the feeds&hellip;</span>
  <button id="refresh" type="button">Fetch the feeds again</button>
  <span id="connection"></span>
</header>
<pre id="error" role="alert" hidden></pre>
<ul id="findings"></ul>
<main>
  <figure><figcaption>600 px</figcaption>
    <iframe data-view="email" width="600" height="900" title="the issue at 600 px"
            sandbox="allow-same-origin allow-popups allow-popups-to-escape-sandbox"></iframe>
  </figure>
  <figure><figcaption>375 px</figcaption>
    <iframe data-view="email" width="375" height="900" title="the issue at 375 px"
            sandbox="allow-same-origin allow-popups allow-popups-to-escape-sandbox"></iframe>
  </figure>
  <figure><figcaption>dark mode, 375 px</figcaption>
    <iframe data-view="dark" class="dark" width="375" height="900"
            title="the issue in dark mode"
            sandbox="allow-same-origin allow-popups allow-popups-to-escape-sandbox"></iframe>
  </figure>
</main>
</body></html>
"""

SCRIPT = r""""use strict";
let version = -1;
let shown = null;
const frames = [...document.querySelectorAll("iframe[data-view]")];

function put(id, value) { document.getElementById(id).textContent = value; }

function fit(frame) {
  // Same origin (sandboxed without scripts): the frame is made as tall as the email.
  const doc = frame.contentDocument;
  if (doc && doc.documentElement) frame.height = doc.documentElement.scrollHeight;
}
frames.forEach(frame => frame.addEventListener("load", () => fit(frame)));

function show(status) {
  document.body.dataset.version = status.version;
  put("collected", status.collected);
  document.getElementById("busy").hidden = !status.busy;
  const banner = document.getElementById("error");
  banner.hidden = !status.error;
  banner.textContent = status.error ? "Not updated: " + status.error : "";
  const render = status.render;
  if (!render) return;
  put("title", "Issue #" + render.number + ": " + render.subject);
  const errors = render.findings.filter(f => f.level === "error").length;
  put("took", "rendered in " + render.seconds.toFixed(2) + " s; linter: " + errors +
      " error(s), " + (render.findings.length - errors) + " warning(s)");
  const list = document.getElementById("findings");
  list.replaceChildren();
  for (const finding of render.findings) {
    const item = document.createElement("li");
    item.className = finding.level;
    item.textContent = finding.level + ": " + finding.check + ": " + finding.message;
    list.append(item);
  }
  for (const note of render.notes) {
    const item = document.createElement("li");
    item.className = "note";
    item.textContent = "note: " + note;
    list.append(item);
  }
  if (render.id !== shown) {
    shown = render.id;
    document.body.dataset.render = render.id;
    for (const frame of frames) {
      frame.src = "/issue/" + render.id + "/" + frame.dataset.view + ".html";
    }
  }
}

async function follow() {
  for (;;) {
    try {
      const answer = await fetch("/status?after=" + version, {cache: "no-store"});
      if (!answer.ok) throw new Error("HTTP " + answer.status);
      const status = await answer.json();
      put("connection", "");
      if (status.version > version) { version = status.version; show(status); }
    } catch (e) {
      put("connection", "the preview server does not answer (" + e.message + "); trying again");
      await new Promise(done => setTimeout(done, 1000));
    }
  }
}

document.getElementById("refresh").addEventListener("click", () => {
  fetch("/refresh", {method: "POST", headers: {"X-Digest-Preview": "1"}});
});
follow();
"""


def preview_app(preview: LivePreview, *, hosts: Iterable[str] | None = None) -> ASGIApp:
    """The app over `preview`. `hosts`: the Host header values accepted (host:port);
    None accepts any (the server listens on more than loopback, by the editor's word)."""

    async def page(request: Request) -> Response:
        return Response(PAGE, media_type="text/html; charset=utf-8",
                        headers={**COMMON, "content-security-policy": PAGE_CSP,
                                 "x-frame-options": "DENY"})

    async def script(request: Request) -> Response:
        return Response(SCRIPT, media_type="text/javascript; charset=utf-8", headers=COMMON)

    async def status(request: Request) -> Response:
        raw = request.query_params.get("after", "-1")
        try:
            after = int(raw)
        except ValueError:
            return PlainTextResponse("after: give a number", 400, headers=COMMON)
        deadline = time.monotonic() + WAIT
        while preview.status.version <= after and time.monotonic() < deadline \
                and not preview.closed:
            await asyncio.sleep(WAKE)
        return JSONResponse(status_json(preview.status), headers=COMMON)

    async def refresh(request: Request) -> Response:
        if request.headers.get(REFRESH_HEADER) != "1":
            return PlainTextResponse(f"send the {REFRESH_HEADER} header", 403, headers=COMMON)
        preview.refresh()
        return PlainTextResponse("fetching the feeds", 202, headers=COMMON)

    async def issue_file(request: Request) -> Response:
        render = preview.render(request.path_params["render"])
        name: str = request.path_params["name"]
        if render is None:
            return _missing("that render is gone: reload the page")
        if name in ("email.html", "dark.html"):
            body = render.dark if name == "dark.html" else render.html
            return Response(_links_out(body), media_type="text/html; charset=utf-8",
                            headers={**COMMON, "content-security-policy": EMAIL_CSP,
                                     "x-frame-options": "SAMEORIGIN"})
        return _missing("no such file")

    async def picture(request: Request) -> Response:
        render = preview.render(request.path_params["render"])
        kind, name = request.path_params["kind"], request.path_params["name"]
        if render is None:
            return _missing("that render is gone")
        if kind == "images" and name in render.images:
            return Response(render.images[name], media_type=_picture_type(name),
                            headers=COMMON)
        path = render.local.get(name) if kind == "local" else None
        if path is None or path.suffix.lower() not in PICTURE_SUFFIXES:
            return _missing("no such picture")
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except OSError:
            return _missing("the picture cannot be read")
        return Response(data, media_type=_picture_type(name), headers=COMMON)

    app = Starlette(routes=[
        Route("/", page),
        Route("/live.js", script),
        Route("/status", status),
        Route("/refresh", refresh, methods=["POST"]),
        Route("/issue/{render:int}/{name}", issue_file),
        Route("/issue/{render:int}/{kind}/{name}", picture),
    ])
    return app if hosts is None else _HostCheck(app, frozenset(h.lower() for h in hosts))


def status_json(status: Status) -> dict[str, Any]:
    return {"version": status.version, "busy": status.busy, "error": status.error,
            "collected": status.collected, "render": _render_json(status.render)}


def _render_json(render: Render | None) -> dict[str, Any] | None:
    if render is None:
        return None
    return {"id": render.id, "number": render.number, "subject": render.subject,
            "seconds": round(render.seconds, 3), "cpu_seconds": round(render.cpu_seconds, 3),
            "findings": [{"level": level, "check": check, "message": message}
                         for level, check, message in render.findings],
            "notes": list(render.notes)}


def _links_out(page: str) -> str:
    head = page.find("<head>")
    return page if head < 0 else page[:head + 6] + LINKS_OUT + page[head + 6:]


def _picture_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _missing(why: str) -> Response:
    return PlainTextResponse(why, 404, headers=COMMON)


class _HostCheck:
    """Answer 421 to a request for another Host than the server's own address."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str]) -> None:
        self.app, self.hosts = app, hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1").lower()
            if host not in self.hosts:
                await PlainTextResponse("this preview answers for its own address only "
                                        f"({', '.join(sorted(self.hosts))})", 421,
                                        headers=COMMON)(scope, receive, send)
                return
        await self.app(scope, receive, send)
