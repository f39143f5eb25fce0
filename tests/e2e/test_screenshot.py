"""`screenshot_issue`: the built preview photographed by headless Chromium at 600 and
375 px, light and dark, cropped to the email."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from digest.render.screenshot import ScreenshotError, find_chromium, screenshot_issue
from tests.helpers import init_and_build, run

try:
    find_chromium()
    HAVE_CHROMIUM = True
except ScreenshotError:
    HAVE_CHROMIUM = False
if not HAVE_CHROMIUM and os.environ.get("DIGEST_REQUIRE_BROWSER"):
    raise RuntimeError("chromium is not installed; scripts/test installs it (apt-get)")


def needs_chromium(test: Callable[..., None]) -> Callable[..., None]:
    marked = pytest.mark.skipif(not HAVE_CHROMIUM, reason="chromium not installed")(test)
    return pytest.mark.browser(marked)


NAMES = ["screenshot-600-light.png", "screenshot-600-dark.png",
         "screenshot-375-light.png", "screenshot-375-dark.png"]
# A page whose background is white, or near-black under prefers-color-scheme: dark,
# exactly 321 px tall.
SCHEME_PAGE = """<!DOCTYPE html><html><head><style>
html, body { margin: 0; background: #ffffff; }
div { height: 321px; }
@media (prefers-color-scheme: dark) { html, body { background: #101010; } }
</style></head><body><div></div></body></html>"""


@pytest.fixture(scope="module")
def preview(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`digest init` then `digest build --preview`: the sample issue's email.html."""
    folder = init_and_build(tmp_path_factory.mktemp("screenshot") / "news", "--preview")
    return folder / "outbox" / "preview" / "email.html"


def brightness(image: Image.Image) -> float:
    """Mean grey level, 0 (black) to 255 (white)."""
    histogram = image.convert("L").histogram()
    return sum(level * count for level, count in enumerate(histogram)) / sum(histogram)


def pixels(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


@needs_chromium
def test_four_screenshots_of_the_sample_issue(preview: Path):
    paths = screenshot_issue(preview)

    assert [p.name for p in paths] == NAMES
    assert all(p.parent == preview.parent for p in paths)
    shots = {p.name: pixels(p) for p in paths}
    for name, image in shots.items():
        width = int(name.split("-")[1])
        assert image.width == width, f"{name} is {image.width} px wide"
        assert image.height > 1000, f"{name} is only {image.height} px tall"
    # Cropped to the email: no row of the framing page's magenta backdrop is left.
    for name, image in shots.items():
        last_row = image.crop((0, image.height - 1, image.width, image.height))
        assert (255, 0, 255) not in {c for _, c in last_row.getcolors(image.width)}, name
    # Stacked cards make the phone picture taller than the desktop one.
    assert shots["screenshot-375-light.png"].height > shots["screenshot-600-light.png"].height
    # The templates' dark-mode styles apply: the dark pictures are darker overall.
    for width in (600, 375):
        light = shots[f"screenshot-{width}-light.png"]
        dark = shots[f"screenshot-{width}-dark.png"]
        assert dark.size == light.size
        assert brightness(dark) < brightness(light) - 60, f"dark mode barely shows at {width}px"


@needs_chromium
def test_dark_mode_is_emulated(tmp_path: Path):
    page = tmp_path / "scheme.html"
    page.write_text(SCHEME_PAGE, "utf-8")

    paths = screenshot_issue(page)

    for path in paths:
        image = pixels(path)
        assert image.size == (int(path.name.split("-")[1]), 321), path.name
        expected = (16, 16, 16) if path.name.endswith("-dark.png") else (255, 255, 255)
        colours = {colour for _, colour in image.getcolors(1) or []}
        assert colours == {expected}, f"{path.name}: {colours}"


@needs_chromium
def test_a_second_run_replaces_the_pictures(tmp_path: Path):
    page = tmp_path / "scheme.html"
    page.write_text(SCHEME_PAGE, "utf-8")
    screenshot_issue(page)
    page.write_text(SCHEME_PAGE.replace("321px", "123px"), "utf-8")

    paths = screenshot_issue(page)

    assert [pixels(p).height for p in paths] == [123, 123, 123, 123]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*NAMES, "scheme.html"])


def test_without_chromium_it_says_how_to_install_it(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch):
    page = tmp_path / "email.html"
    page.write_text(SCHEME_PAGE, "utf-8")
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no browser on it

    with pytest.raises(ScreenshotError) as failed:
        screenshot_issue(page)

    assert "Chromium is not installed" in str(failed.value)
    assert "apt-get install chromium" in str(failed.value)
    assert "put a chromium binary on PATH" in str(failed.value)
    assert not list(tmp_path.glob("*.png"))


def test_a_missing_email_is_named(tmp_path: Path):
    with pytest.raises(ScreenshotError) as failed:
        screenshot_issue(tmp_path / "outbox" / "preview" / "email.html")

    message = str(failed.value)
    assert message.startswith("cannot take screenshots of ")
    assert message.endswith("email.html: no such file; build the issue first "
                            "(`digest build --preview`)")


@needs_chromium
def test_build_preview_screenshot_prints_four_pictures(tmp_path: Path) -> None:
    assert run(None, "init", str(tmp_path / "news")).exit_code == 0
    config = str(tmp_path / "news" / "config.toml")
    result = run(config, "build", "--preview", "--screenshot",
                 env={"DIGEST_NOW": "2026-11-30T08:00:00+00:00"})
    assert result.exit_code == 0, result.output
    pngs = [line for line in result.output.splitlines() if line.endswith(".png")]
    assert [Path(p).name for p in pngs] == NAMES
    assert all(Path(p).stat().st_size > 10_000 for p in pngs)
    refused = run(config, "build", "--screenshot")
    assert refused.exit_code == 2 and "--screenshot goes with --preview" in refused.output
