"""`digest preview --serve`: the editor's live preview, a thin wrapper over
digest.web.live (the renderer and its watcher) and digest.web.live_app (the page).
The library is imported inside the command, so `digest --help` stays fast."""

from __future__ import annotations

import ipaddress
import socket
import webbrowser
from pathlib import Path
from types import FrameType

import click

from digest.cli.common import Failure, get_config, out, warn

DEFAULT_PORT = 8025
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


@click.command()
@click.option("--serve", is_flag=True,
              help="Run the live preview page (required: there is no other mode yet; "
                   "`digest build --preview` writes outbox/preview/ once).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback shows the unsent issue "
                   "to the network (a warning says so).")
@click.option("--port", default=DEFAULT_PORT, show_default=True,
              type=click.IntRange(0, 65535), help="Port to listen on (0: any free one).")
@click.option("--draft", "draft_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Preview this draft (see `digest draft`), again on each save of it.")
@click.option("--no-collect", is_flag=True,
              help="Start from stored articles only (the page's button still fetches).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a browser.")
@click.pass_context
def preview(ctx: click.Context, serve: bool, host: str, port: int, draft_path: Path | None,
            no_collect: bool, open_browser: bool) -> None:
    """Serve a page with the next issue at 600 px, 375 px and dark, side by side.

    The page shows the linter's findings (as `digest check --issue`) and follows
    every save of the config, the draft and the templates: it re-renders from the
    candidates collected at start, and a config or template error shows on the page
    while the last good preview stays. Nothing is written: no state, no outbox.

    \b
    Example:
        digest preview --serve --open
        digest preview --serve --draft drafts/next.toml --port 8026
    """
    if not serve:
        raise click.UsageError("give --serve (the live page); `digest build --preview` "
                               "writes outbox/preview/ once")
    get_config(ctx)  # a config that does not load stops here; later errors show on the page
    # here, not at the top: `digest --help` stays fast
    import uvicorn

    from digest.web.live import LivePreview
    from digest.web.live_app import preview_app

    listener = _listen(host, port)
    bound = listener.getsockname()[1]
    loopback = ipaddress.ip_address(listener.getsockname()[0]).is_loopback
    if not loopback:
        warn(f"--host {host} is not a loopback address: anyone who can reach this machine "
             f"on port {bound} sees the unsent issue; use --host 127.0.0.1 unless you mean it")
    live = LivePreview(ctx.obj["config_path"], draft=draft_path, fetch=not no_collect)
    live.start(wait=False)  # the page is up at once and shows the feeds being fetched
    shown = host if ":" not in host else f"[{host}]"
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{bound}/"
    hosts = {f"{name}:{bound}" for name in (*LOOPBACK_NAMES, shown)} if loopback else None

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            live.close()  # the page's long polls answer now, so the stop is quick
            super().handle_exit(sig, frame)

    server = Server(uvicorn.Config(
        preview_app(live, hosts=hosts), log_level="warning", lifespan="off",
        timeout_graceful_shutdown=2))
    out.print(f"live preview at {url} (Ctrl-C stops it)")
    if open_browser and not webbrowser.open(url):
        warn("--open: no web browser found here; open the address above yourself")
    try:
        server.run(sockets=[listener])
    except KeyboardInterrupt:  # uvicorn raises the Ctrl-C again once it has stopped
        pass
    finally:
        live.stop()
        listener.close()
    out.print("live preview stopped")


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port; Failure names the address when it cannot be."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM)[0]
        listener = socket.socket(family, kind, proto)
    except (OSError, ValueError) as e:  # ValueError: a name IDNA cannot spell, a NUL
        why = getattr(e, "strerror", None) or str(e)
        raise Failure(f"--host {host!r}: {why}; give an address of this machine, such as "
                      "127.0.0.1") from None
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(64)
    except OSError as e:
        listener.close()
        raise Failure(f"cannot listen on {host}:{port}: {e.strerror or e}; give another "
                      "--port (or stop what uses it)") from None
    return listener


COMMANDS = (preview,)
