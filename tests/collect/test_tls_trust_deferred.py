"""The collect client reads its CA bundle on its first TLS connection, not when it is
made (a build of http:// feeds makes none), and still checks every certificate: a
real HTTPS server on 127.0.0.1 with a self-signed certificate is refused, and accepted
once SSL_CERT_FILE names that certificate (as httpx's default context does)."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from digest.collect.feeds import collect_feed, make_client
from digest.collect.fetch import DeferredTrust
from digest.collect.hosts import Address
from digest.config.schema import CollectConfig, FeedConfig
from tests.helpers import rss


def _certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=feeds.test", "-addext", "subjectAltName=DNS:feeds.test",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    cert, key = _certificate(tmp_path)
    body = rss(2, "Secure")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], cert
    httpd.shutdown()
    httpd.server_close()


def _fetch(port: int) -> str:
    """Collect https://feeds.test:PORT/feed.xml (the name resolved to 127.0.0.1)."""
    feed = FeedConfig(url=f"https://feeds.test:{port}/feed.xml", name="Secure")

    async def go() -> str:
        async with make_client(CollectConfig(timeout=20)) as client:
            result = await collect_feed(feed, None, client, CollectConfig(timeout=20),
                                        Path("."), lambda host, p: [Address("127.0.0.1",
                                                                            "internal")])
        return result.status if result.status != "error" else str(result.error)

    return asyncio.run(go())


def test_making_the_client_reads_no_certificates() -> None:
    context = DeferredTrust()
    assert context.cert_store_stats()["x509_ca"] == 0  # httpx's own context: ~150
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    client = make_client(CollectConfig())
    try:
        pool = client._transport._pool  # type: ignore[attr-defined]  # noqa: SLF001
        assert isinstance(pool._ssl_context, DeferredTrust)  # noqa: SLF001
        assert pool._ssl_context.cert_store_stats()["x509_ca"] == 0  # noqa: SLF001
    finally:
        asyncio.run(client.aclose())


def test_a_certificate_no_authority_signed_is_refused(
        https_server: tuple[int, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    port, _ = https_server
    error = _fetch(port)
    assert "certificate" in error.lower(), error


def test_ssl_cert_file_is_the_bundle_when_set(
        https_server: tuple[int, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    port, cert = https_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    assert _fetch(port) == "ok"
