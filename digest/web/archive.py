"""The web archive under `/`: looked up on each request, so a site `digest publish`
writes after the server started is served, and `[web] site_dir` may be a symlink
swapped to each new build. Served only while the folder holds the marker
`digest publish` writes (never the config's folder). A folder URL without its
trailing slash is redirected relatively (`./3/`), never to the request's Host."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send


class _Files(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if isinstance(response, RedirectResponse):
            last = scope["path"].rstrip("/").rpartition("/")[2]
            query = scope.get("query_string", b"").decode("latin-1")
            location = "./" + quote(last) + "/" + (f"?{quote(query, safe='=&%+')}" if query else "")
            return RedirectResponse(location, status_code=response.status_code)
        return response


class Archive:
    def __init__(self, site: Path, marker: str) -> None:
        self.site, self.marker = site, marker
        self.files = _Files(directory=site, html=True, check_dir=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and os.path.isfile(self.site / self.marker):
            await self.files(scope, receive, send)
        else:
            await PlainTextResponse("Not Found", 404)(scope, receive, send)
