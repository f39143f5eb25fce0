"""Pictures of a built email as readers see it: 600 px (desktop) and 375 px (phone)
wide, in light and in dark mode, taken with headless Chromium.

Headless Chromium will not open a window narrower than 500 px, so the email is framed
in an iframe of the wanted width on a page of our own (`_FRAME`), laid out in a window
at least 500 px wide. That page measures the email once it has loaded (images too),
makes the iframe exactly that tall and paints everything below it `_BACKDROP`; the
screenshot is then cropped to the iframe: its width, and down to the last row that is
not backdrop. Dark mode is Chromium's own: `--force-dark-mode` makes
`prefers-color-scheme: dark` match, as a reader's dark system setting does.

`screenshot_issue(html)` is the whole interface; ScreenshotError says what failed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from digest.errors import DigestError


class ScreenshotError(DigestError):
    """Chromium is missing, failed, or drew nothing we could crop."""


@dataclass(frozen=True)
class Shot:
    width: int  # CSS pixels; one CSS pixel is one PNG pixel
    scheme: str  # "light" | "dark"

    @property
    def name(self) -> str:
        return f"screenshot-{self.width}-{self.scheme}.png"


SHOTS = (Shot(600, "light"), Shot(600, "dark"), Shot(375, "light"), Shot(375, "dark"))
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# The switches that make `prefers-color-scheme: dark` match (tests/e2e/test_browser.py
# lays the email out with them too). They don't darken pages that have no dark styles.
DARK_MODE = ("--force-dark-mode",)
MIN_WINDOW_WIDTH = 500  # headless Chromium widens narrower windows to this
WINDOW_HEIGHTS = (4000, 16000)  # tried in turn until the whole email fits
TIMEOUT = 60.0  # seconds per screenshot
_BACKDROP = (255, 0, 255)  # no email paints a full row of pure magenta

_FRAME = """<!DOCTYPE html>
<html style="color-scheme: {scheme}"><head><meta charset="utf-8"></head>
<body style="margin: 0; background: rgb{backdrop}">
<iframe id="email" src="{src}" width="{width}" height="0" scrolling="no"
        style="display: block; border: 0; background: Canvas; color-scheme: {scheme}"></iframe>
<script>
window.addEventListener("load", () => {{
  const frame = document.getElementById("email");
  frame.height = frame.contentDocument.documentElement.scrollHeight;
}});
</script>
</body></html>
"""


def find_chromium() -> str:
    """The Chromium (or Chrome) on PATH; ScreenshotError says how to install one."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise ScreenshotError(
        "cannot take screenshots: Chromium is not installed (looked for "
        f"{', '.join(CHROMIUM_NAMES)} on PATH); install it with `apt-get install chromium` "
        "(Debian/Ubuntu) or put a chromium binary on PATH")


def chromium_command(chromium: str, profile: Path, *, window: tuple[int, int],
                     dark: bool = False) -> list[str]:
    """Headless Chromium with a throwaway profile, as quiet and offline as it goes;
    add the action (`--screenshot=...`, `--dump-dom`) and the URL."""
    return [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-extensions",
        # Our framing page reads the email's height; both are file:// pages.
        "--allow-file-access-from-files",
        f"--user-data-dir={profile}", f"--window-size={window[0]},{window[1]}",
        "--virtual-time-budget=15000", *(DARK_MODE if dark else ()),
    ]


def screenshot_issue(html: Path, *, timeout: float = TIMEOUT) -> list[Path]:
    """Write screenshot-{600,375}-{light,dark}.png beside `html` (an issue's email.html)
    and return their paths. Each is the whole email: 600 or 375 px wide, as tall as
    the email is at that width."""
    html = Path(html).resolve()
    if not html.is_file():
        raise ScreenshotError(f"cannot take screenshots of {html}: no such file; build the "
                              "issue first (`digest build --preview`)")
    chromium = find_chromium()
    written = []
    with tempfile.TemporaryDirectory(prefix="digest-screenshot-",
                                     ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        for shot in SHOTS:
            target = html.parent / shot.name
            _take(chromium, html, shot, work, target, timeout)
            written.append(target)
    return written


def _take(chromium: str, html: Path, shot: Shot, work: Path, target: Path,
          timeout: float) -> None:
    frame = work / f"frame-{shot.width}-{shot.scheme}.html"
    frame.write_text(_FRAME.format(scheme=shot.scheme, backdrop=_BACKDROP, src=html.as_uri(),
                                   width=shot.width), "utf-8")
    what = f"the {shot.width} px {shot.scheme} screenshot of {html}"
    for height in WINDOW_HEIGHTS:
        raw = work / f"raw-{shot.width}-{shot.scheme}-{height}.png"
        command = chromium_command(chromium, work / f"profile-{shot.width}-{shot.scheme}",
                                   window=(max(shot.width, MIN_WINDOW_WIDTH), height),
                                   dark=shot.scheme == "dark")
        _run([*command, f"--screenshot={raw}", frame.as_uri()], what, raw, timeout)
        if _crop(raw, shot.width, target, what):
            return
    raise ScreenshotError(f"cannot take {what}: the email is taller than "
                          f"{WINDOW_HEIGHTS[-1]} px at {shot.width} px wide")


def _run(command: list[str], what: str, raw: Path, timeout: float) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        raise ScreenshotError(f"Chromium did not finish {what} within {timeout:g} s; "
                              "check that the email's images can be fetched") from None
    except OSError as e:
        raise ScreenshotError(f"cannot run Chromium ({command[0]}) for {what}: "
                              f"{e.strerror or e}") from None
    if done.returncode != 0 or not raw.is_file():
        said = "\n".join(done.stderr.strip().splitlines()[-5:]) or "no output"
        raise ScreenshotError(f"Chromium failed to take {what} (exit {done.returncode}):\n"
                              f"{said}")


def _crop(raw: Path, width: int, target: Path, what: str) -> bool:
    """Cut the email out of the window's picture into `target`. False when the window
    was too short (the email reaches its bottom edge)."""
    # here, not at the top: PIL is heavy and only this needs it
    from PIL import Image, ImageChops

    with Image.open(raw) as picture:
        page = picture.convert("RGB").crop((0, 0, width, picture.height))
    box = ImageChops.difference(page, Image.new("RGB", page.size, _BACKDROP)).getbbox()
    if box is None:
        raise ScreenshotError(f"cannot take {what}: Chromium drew an empty page (the email "
                              "did not load, or its height could not be measured)")
    bottom = box[3]
    if bottom >= page.height:
        return False
    partial = target.with_name(f".{target.name}.partial")
    page.crop((0, 0, width, bottom)).save(partial, "PNG", optimize=True)
    os.replace(partial, target)
    return True
