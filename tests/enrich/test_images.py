"""Pictures: numeric sizes on every <img>, crops made for their slot under
[newsletter] assets_url, tiny and broken pictures never stop a build, each picture
fetched once per build and conditionally the next time, the SSRF guard."""

from __future__ import annotations

import io
import json
import re
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image as PILImage

from digest import pipeline
from digest.collect.hosts import Address, system_resolve
from digest.config.load import load_config
from digest.errors import ConfigError
from digest.outbox.folder import IssueFolder
from tests.helpers import BASE_CONFIG, NOW_UTC_ENV, FeedServer, Route, run

ISSUE = "outbox/2026-11-30-the-china-connection-{}"
CDN = "https://cdn.example.com/news/img/"
ASSETS = BASE_CONFIG.replace("[newsletter]\n", f'[newsletter]\nassets_url = "{CDN}"\n', 1)


def jpeg(width: int, height: int) -> bytes:
    """Blue top quarter, red middle half, green bottom quarter (or the same left to
    right when wider than tall): a centred crop shows only red."""
    im = PILImage.new("RGB", (width, height), (200, 20, 20))
    band = [(0, 0, width, height // 4), (0, height * 3 // 4, width, height)]
    if width > height:
        band = [(0, 0, width // 4, height), (width * 3 // 4, 0, width, height)]
    im.paste((20, 20, 200), band[0])
    im.paste((20, 160, 20), band[1])
    out = io.BytesIO()
    im.save(out, "JPEG", quality=90)
    return out.getvalue()


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (width, height), (0, 90, 160)).save(out, "PNG")
    return out.getvalue()


def picture_feed(items: list[tuple[str, str | None]]) -> bytes:
    """RSS whose items, newest first, have these titles and pictures (media:content)."""
    entries = "".join(
        f"""<item><title>{title}</title>
        <link>https://news.example.com/{title.lower().replace(" ", "-")}</link>
        <guid>{title}</guid><pubDate>{28 - i} Nov 2026 08:00:00 +0800</pubDate>
        <description>About {title.lower()}. It has two sentences.</description>
        {f'<media:content url="{url}" medium="image"/>' if url else ""}</item>"""
        for i, (title, url) in enumerate(items))
    return ('<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">'
            f"<channel><title>T</title><link>https://news.example.com/</link>{entries}"
            "</channel></rss>").encode()


def imgs(html: str) -> list[dict[str, str]]:
    return [dict(re.findall(r'\s([a-z-]+)="([^"]*)"', tag))
            for tag in re.findall(r"<img\b[^>]*>", html)]


def manifest(folder: Path) -> dict:
    return json.loads((folder / "issue.json").read_text("utf-8"))


def hero_and_cards(folder: Path) -> tuple[dict, list[dict]]:
    """The big story's <img> and the cards' (the cards carry the card-image class)."""
    found = imgs((folder / "email.html").read_text("utf-8"))
    return found[0], found[1:]


def test_every_img_of_the_sample_issue_has_a_numeric_width(sample_project: Path,
                                                            tmp_path: Path):
    result = run(sample_project, "build", env=NOW_UTC_ENV)
    assert result.exit_code == 0, result.output
    folder = tmp_path / ISSUE.format(1)
    found = imgs((folder / "email.html").read_text("utf-8"))
    assert found and all(re.fullmatch(r"\d+", i["width"]) for i in found), found
    # The big story's and the cards' pictures have their height too. The samples are
    # 1200x675, hot-linked (no assets_url) at their own aspect.
    sections = manifest(folder)["sections"]
    [hero_file] = [s["image"] for s in sections["big_story"]]
    card_files = {s["image"] for s in sections["read_more"]}
    [hero] = [i for i in found if i["src"].endswith("/" + hero_file)]
    cards = [i for i in found if i["src"].rsplit("/", 1)[-1] in card_files]
    assert len(sections["read_more"]) == 6 and cards  # some cards have no picture
    assert (hero["width"], hero["height"]) == ("600", "338")
    assert {(i["width"], i["height"]) for i in cards} == {("258", "145")}
    assert all(i["src"].startswith("file://") for i in [hero, *cards])
    assert not (folder / "images").exists()  # nothing made: nowhere to publish it


def test_card_pictures_are_cropped_and_resized_into_images_under_assets_url(
        feed_server: FeedServer, write_config, tmp_path: Path):
    wide = jpeg(1200, 675)
    feed_server.routes["/f.xml"] = Route(picture_feed(
        [(f"Story {i}", feed_server.url(f"/p/{i}.jpg")) for i in range(5)]))
    for i in range(5):
        feed_server.routes[f"/p/{i}.jpg"] = Route(wide, content_type="image/jpeg")
    path = write_config([{"url": feed_server.url("/f.xml"), "name": "Wire"}],
                        extra="[layout]\nneed_to_know = 1\n", base=ASSETS)
    result = run(path, "build", env=NOW_UTC_ENV)
    assert result.exit_code == 0, result.output
    folder = tmp_path / ISSUE.format(1)
    hero, cards = hero_and_cards(folder)
    assert len(cards) == 3
    for img, (width, height), (file_w, file_h) in [(hero, (600, 338), (1200, 675))] + [
            (card, (258, 172), (516, 344)) for card in cards]:
        assert (img["width"], img["height"]) == (str(width), str(height))
        name = img["src"].removeprefix(CDN)
        assert re.fullmatch(r"\d-(hero|card)-[0-9a-f]{12}\.jpg", name), img["src"]
        with PILImage.open(folder / "images" / name) as made:
            assert (made.format, made.size) == ("JPEG", (file_w, file_h))
            # 3:2 out of 16:9: the sides are cut, the middle is what is left.
            assert made.getpixel((file_w // 2, file_h // 2))[0] > 150
    records = manifest(folder)["images"]
    assert sorted((r["slot"], r["width"], r["height"]) for r in records) == [
        ("big_story", 1200, 675)] + [("read_more", 516, 344)] * 3
    assert {r["source"] for r in records} <= {feed_server.url(f"/p/{i}.jpg") for i in range(5)}
    assert sorted(p.name for p in (folder / "images").iterdir()) == sorted(
        r["name"] for r in records)


def test_a_preview_shows_its_crops_from_beside_its_email(feed_server: FeedServer,
                                                        write_config, tmp_path: Path):
    feed_server.routes["/f.xml"] = Route(picture_feed(
        [(f"Story {i}", feed_server.url("/p.jpg")) for i in range(4)]))
    feed_server.routes["/p.jpg"] = Route(jpeg(1200, 675), content_type="image/jpeg")
    path = write_config([{"url": feed_server.url("/f.xml"), "name": "Wire"}], base=ASSETS)
    result = run(path, "build", "--preview", env=NOW_UTC_ENV)
    assert result.exit_code == 0, result.output
    hero, _ = hero_and_cards(tmp_path / "outbox" / "preview")
    assert re.fullmatch(r"images/p-hero-[0-9a-f]{12}\.jpg", hero["src"])
    assert (tmp_path / "outbox" / "preview" / hero["src"]).is_file()


@pytest.mark.parametrize("assets", [True, False])
def test_a_tall_hero_is_cropped_not_stretched(assets: bool, feed_server: FeedServer,
                                              write_config, tmp_path: Path):
    feed_server.routes["/f.xml"] = Route(picture_feed(
        [("Tall", feed_server.url("/tall.jpg")), ("Two", None), ("Three", None)]))
    feed_server.routes["/tall.jpg"] = Route(jpeg(400, 1600), content_type="image/jpeg")
    path = write_config([{"url": feed_server.url("/f.xml"), "name": "Wire"}],
                        base=ASSETS if assets else BASE_CONFIG)
    result = run(path, "build", env=NOW_UTC_ENV)
    assert result.exit_code == 0, result.output
    folder = tmp_path / ISSUE.format(1)
    [hero] = imgs((folder / "email.html").read_text("utf-8"))
    if not assets:  # hot-linked: its own aspect, no taller than the slot at 16:9
        assert (hero["src"], hero["width"], hero["height"]) == (
            feed_server.url("/tall.jpg"), "84", "338")
        return
    assert (hero["width"], hero["height"]) == ("600", "338")
    [record] = manifest(folder)["images"]
    with PILImage.open(folder / "images" / record["name"]) as made:
        assert made.size == (400, 225)  # 16:9 from the middle, not enlarged
        rgb = made.convert("RGB")
        corners = [rgb.getpixel(xy) for xy in [(2, 2), (397, 2), (2, 222), (397, 222)]]
        assert all(r > 150 and g < 80 and b < 80 for r, g, b in corners), corners


def test_a_tiny_picture_never_becomes_the_hero_or_a_card_picture(
        feed_server: FeedServer, write_config, tmp_path: Path):
    feed_server.routes["/f.xml"] = Route(picture_feed([
        ("Tiny icon story", feed_server.url("/icon.png")),  # the newest: the top score
        ("Second", None), ("Third", None), ("Fourth", None),
        ("Real picture", feed_server.url("/real.jpg")),
        ("Tiny card", feed_server.url("/icon.png?card")),
    ]))
    feed_server.routes["/icon.png"] = Route(png(40, 40), content_type="image/png")
    feed_server.routes["/icon.png?card"] = Route(png(40, 40), content_type="image/png")
    feed_server.routes["/real.jpg"] = Route(jpeg(1200, 675), content_type="image/jpeg")
    path = write_config([{"url": feed_server.url("/f.xml"), "name": "Wire"}], base=ASSETS)
    result = run(path, "build", env=NOW_UTC_ENV)
    assert result.exit_code == 0, result.output
    folder = tmp_path / ISSUE.format(1)
    data = manifest(folder)
    # Curated again without the icon: the story with the real picture leads.
    [big] = data["sections"]["big_story"]
    assert big["title"] == "Real picture"
    [hero] = imgs((folder / "email.html").read_text("utf-8"))  # no card has a picture
    assert hero["src"].endswith(big["image"])
    assert [r["source"] for r in data["images"]] == [feed_server.url("/real.jpg")]
    placed = [s["title"] for k in ("need_to_know", "read_more") for s in data["sections"][k]]
    assert "Tiny icon story" in placed and "Tiny card" in placed  # the stories stay
    for url in ("/icon.png", "/icon.png?card"):
        assert any(n.startswith(f"picture {feed_server.url(url)} of ") and
                   "40x40 px, under 100 px: too small" in n for n in data["notes"]), data["notes"]


def test_a_picture_is_fetched_once_and_conditionally_next_time(
        feed_server: FeedServer, write_config, tmp_path: Path):
    picture = feed_server.url("/shared.jpg")
    feed_server.routes["/f.xml"] = Route(picture_feed(
        [(f"First {i}", picture) for i in range(4)]))
    feed_server.routes["/shared.jpg"] = Route(jpeg(1200, 675), content_type="image/jpeg",
                                              etag='"v1"')
    path = write_config([{"url": feed_server.url("/f.xml"), "name": "Wire"}],
                        extra="[layout]\nneed_to_know = 1\n", base=ASSETS)
    assert run(path, "build", env=NOW_UTC_ENV).exit_code == 0
    first = tmp_path / ISSUE.format(1)
    # The hero's file and the one both cards show ...
    assert sorted(r["slot"] for r in manifest(first)["images"]) == ["big_story", "read_more"]
    assert len(imgs((first / "email.html").read_text("utf-8"))) == 3
    [hit] = feed_server.hits("/shared.jpg")  # ... from one request
    assert "If-None-Match" not in hit

    feed_server.routes["/f.xml"] = Route(picture_feed(
        [(f"Second {i}", picture) for i in range(4)]))
    result = run(path, "build", env=NOW_UTC_ENV)
    assert result.exit_code == 0, result.output
    second = tmp_path / ISSUE.format(2)
    _, again = feed_server.hits("/shared.jpg")
    assert again["If-None-Match"] == '"v1"'  # answered 304: made from the cache
    assert [(p.name, p.read_bytes()) for p in sorted((second / "images").iterdir())] == [
        (p.name, p.read_bytes()) for p in sorted((first / "images").iterdir())]


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares its size and holds no pixels: all a decompression bomb needs
    to be refused by."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                                0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def test_broken_pictures_leave_the_build_working_and_are_named(
        feed_server: FeedServer, write_config, tmp_path: Path):
    whole = jpeg(1200, 675)
    feed_server.routes["/f.xml"] = Route(picture_feed([
        ("Missing", feed_server.url("/gone.jpg")),
        ("A page", feed_server.url("/page.jpg")),
        ("Cut short", feed_server.url("/cut.jpg")),
        ("Bomb", feed_server.url("/bomb.png")),
        ("Busy", feed_server.url("/busy.jpg")),
        ("Fine", feed_server.url("/fine.jpg")),
    ]))
    feed_server.routes["/page.jpg"] = Route(b"<html><body>Not here</body></html>",
                                            content_type="text/html")
    feed_server.routes["/cut.jpg"] = Route(whole[: len(whole) // 2], content_type="image/jpeg")
    feed_server.routes["/bomb.png"] = Route(png_header(40_000, 40_000), content_type="image/png")
    feed_server.routes["/busy.jpg"] = Route(status=503, content_type="text/plain")
    feed_server.routes["/fine.jpg"] = Route(whole, content_type="image/jpeg")
    path = write_config([{"url": feed_server.url("/f.xml"), "name": "Wire"}],
                        extra="[layout]\nneed_to_know = 0\n", base=ASSETS)
    result = run(path, "build", env=NOW_UTC_ENV)
    assert result.exit_code == 0, result.output
    folder = tmp_path / ISSUE.format(1)
    data = manifest(folder)
    # Every story is in; those with an unusable picture without it. A picture that
    # could not be fetched for now stays hot-linked at its slot's width, unmeasured.
    assert data["sections"]["big_story"][0]["title"] == "Busy"
    assert len(data["sections"]["read_more"]) == 5
    hero, [fine] = hero_and_cards(folder)
    assert (hero["src"], hero["width"], hero.get("height")) == (
        feed_server.url("/busy.jpg"), "600", "auto")
    assert fine["src"].startswith(f"{CDN}fine-card-") and fine["height"] == "172"
    why = {url: next(n for n in data["notes"] if n.startswith(f"picture {feed_server.url(url)} "))
           for url in ("/gone.jpg", "/page.jpg", "/cut.jpg", "/bomb.png", "/busy.jpg")}
    assert "left out: server answered HTTP 404 Not Found" in why["/gone.jpg"]
    assert "not an image digest can read" in why["/page.jpg"]
    assert "the server sent text/html" in why["/page.jpg"]
    assert "left out: damaged image (image file is truncated" in why["/cut.jpg"]
    assert "left out: refused as a decompression bomb" in why["/bomb.png"]
    assert why["/busy.jpg"].endswith("server answered HTTP 503 Service Unavailable; check the "
                                     "url or try again later; hot-linked as it is, unmeasured")


def test_a_public_feed_may_not_lead_to_an_internal_picture(
        feed_server: FeedServer, write_config, tmp_path: Path, monkeypatch):
    port = feed_server.httpd.server_address[1]
    feed_server.routes["/f.xml"] = Route(picture_feed([
        ("Inside", f"http://127.0.0.1:{port}/secret.jpg"),
        ("Outside", f"http://public.test:{port}/open.jpg"),
        ("Third", None)]))
    feed_server.routes["/secret.jpg"] = Route(jpeg(1200, 675), content_type="image/jpeg")
    feed_server.routes["/open.jpg"] = Route(jpeg(1200, 675), content_type="image/jpeg")

    def resolve(host: str, port: int) -> list[Address]:  # public.test: public, on loopback
        if host == "public.test":
            return [Address("127.0.0.1", "public")]
        return system_resolve(host, port)

    path = write_config([{"url": f"http://public.test:{port}/f.xml", "name": "Public"}],
                        base=ASSETS)
    monkeypatch.setenv("DIGEST_NOW", NOW_UTC_ENV["DIGEST_NOW"])
    result = pipeline.build(load_config(path), resolve=resolve)
    assert result.status == "built", result.message
    assert feed_server.hits("/secret.jpg") == []
    assert [h["Host"] for h in feed_server.hits("/open.jpg")] == [f"public.test:{port}"]
    [note] = [n for n in result.notes if "/secret.jpg" in n]
    assert note == (f"picture http://127.0.0.1:{port}/secret.jpg of 'Inside' (feed 'Public') "
                    f"left out: '127.0.0.1' resolves to 127.0.0.1 (loopback); refused: a "
                    "picture in a feed on the public internet may not lead digest to internal "
                    "addresses")
    [hero] = imgs((tmp_path / ISSUE.format(1) / "email.html").read_text("utf-8"))
    assert hero["src"].startswith(f"{CDN}open-hero-")


@pytest.mark.parametrize("value", ["cdn/img", "ftp://cdn.example.com/img",
                                   "https://cdn.example.com/img?v=1"])
def test_assets_url_must_be_an_http_folder(value: str, write_config):
    path = write_config(base=ASSETS.replace(CDN, value))
    with pytest.raises(ConfigError, match=r"^\[newsletter\] assets_url: "):
        load_config(path)


def test_a_version_2_manifest_reads_as_one_without_images(tmp_path: Path):
    folder = tmp_path / "2026-11-20-the-china-connection-19"
    folder.mkdir()
    (folder / "issue.json").write_text(json.dumps({
        "manifest_version": 2, "newsletter": "The China Connection",
        "slug": "the-china-connection", "number": 19, "date": "2026-11-20T08:00:00+08:00",
        "folder": folder.name, "subject": "s", "preheader": "p", "marker": "ab" * 12,
        "state_id": "0" * 32}), "utf-8")
    opened = IssueFolder.open(folder)
    assert (opened.manifest.number, opened.manifest.images) == (19, ())


def test_a_hero_made_from_the_bodys_first_picture_is_not_shown_twice(
        sample_project: Path, tmp_path: Path):
    """The central bank story's picture is its body's first <img>: once the hero is a
    resized copy under assets_url, the same photo inside the story is left out."""
    text = sample_project.read_text("utf-8").replace(
        "[newsletter]\n", f'[newsletter]\nassets_url = "{CDN}"\n', 1).replace(
        "[editor]\n", '[editor]\npin = ["https://news.example.com/policy/2026/11/'
        'central-bank-trims-reserve-requirement-ratio"]\n', 1)
    sample_project.write_text(text, "utf-8")
    result = run(sample_project, "build", "--preview", env=NOW_UTC_ENV)
    assert result.exit_code == 0, result.output
    html = (tmp_path / "outbox" / "preview" / "email.html").read_text("utf-8")
    shown = [i["src"] for i in imgs(html) if "government-building" in i["src"]]
    assert len(shown) == 1 and "-hero-" in shown[0], shown
