"""The fetch cache keeps the SSRF rule (issue 19, item 4): a picture an internal feed
was let fetch from an internal address is reused unasked by that feed's previews only;
a public feed's story with the same url asks under its own rules, and is refused. The
public host is made by the resolver seam (digest.collect.hosts.Resolver), as in
tests/enrich/test_images.py; the server, the pipeline and the cache file are real."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest import pipeline
from digest.collect.hosts import Address, system_resolve
from digest.config.load import load_config
from tests.enrich.test_images import ASSETS, jpeg, picture_feed
from tests.helpers import NOW_UTC_ISO, FeedServer, Route


def test_a_picture_an_internal_feed_fetched_is_not_reused_for_a_public_feed(
        feed_server: FeedServer, write_config, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch):
    port = feed_server.httpd.server_address[1]
    secret = f"http://127.0.0.1:{port}/secret.jpg"
    feed_server.routes["/secret.jpg"] = Route(jpeg(1200, 675), content_type="image/jpeg")
    feed_server.routes["/f.xml"] = Route(picture_feed(
        [("Inside", secret), ("Second", None), ("Third", None)]))

    def resolve(host: str, port: int) -> list[Address]:  # public.test: public, on loopback
        if host == "public.test":
            return [Address("127.0.0.1", "public")]
        return system_resolve(host, port)

    monkeypatch.setenv("DIGEST_NOW", NOW_UTC_ISO)
    (tmp_path / ".digest").mkdir()  # a state folder, so the preview keeps a cache

    def preview(feed_url: str, name: str) -> pipeline.BuildResult:
        config = load_config(write_config([{"url": feed_url, "name": name}], base=ASSETS))
        result = pipeline.preview(config, resolve=resolve)
        assert result.status == "preview", result.message
        return result

    internal = preview(f"http://127.0.0.1:{port}/f.xml", "Intranet")
    assert len(feed_server.hits("/secret.jpg")) == 1
    assert not [n for n in internal.notes if "secret.jpg" in n]
    again = preview(f"http://127.0.0.1:{port}/f.xml", "Intranet")  # its own: reused unasked
    assert len(feed_server.hits("/secret.jpg")) == 1
    assert not [n for n in again.notes if "secret.jpg" in n]

    public = preview(f"http://public.test:{port}/f.xml", "Public")
    assert len(feed_server.hits("/secret.jpg")) == 1  # refused before any request
    [note] = [n for n in public.notes if "secret.jpg" in n]
    assert "left out" in note and "may not lead digest to internal addresses" in note
    html = (tmp_path / "outbox" / "preview" / "email.html").read_text("utf-8")
    assert "secret-hero-" not in html  # the internal picture's file is not shown
