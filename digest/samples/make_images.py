#!/usr/bin/env python3
"""Draw the illustrative sample pictures used by the bundled sample feeds.

Every picture is drawn from scratch with Pillow: flat, layered shapes in a
muted editorial palette, gradient skies and no text. The output is
deterministic (all "random" placement comes from seeded generators), so
running the script twice gives the same files.

Usage:
    python3 digest/samples/make_images.py         # writes digest/samples/images/*.jpg
    python3 digest/samples/make_images.py OUTDIR  # writes somewhere else
"""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter

W, H = 1200, 675          # output size (16:9, hero-capable)
SS = 2                    # supersampling factor for smooth edges
QUALITY = 78

# Muted editorial palette -------------------------------------------------
NAVY = (31, 45, 66)
INK = (24, 31, 43)
SLATE = (74, 90, 110)
STEEL = (118, 134, 150)
MIST = (196, 204, 208)
CREAM = (238, 228, 208)
SAND = (214, 190, 150)
OCHRE = (201, 148, 62)
AMBER = (226, 170, 88)
RUST = (176, 84, 58)
BRICK = (146, 62, 50)
CHINA_RED = (170, 48, 44)
TEAL = (46, 110, 112)
SEA = (52, 92, 112)
SAGE = (120, 142, 110)
OLIVE = (94, 112, 72)
FOREST = (58, 82, 62)
DUSK_PURPLE = (92, 78, 110)
ROSE = (206, 128, 110)
PALE_GOLD = (240, 208, 150)


def mix(a, b, t):
    """Linear blend of two RGB colours (t=0 -> a, t=1 -> b)."""
    return tuple(int(round(a[i] + (b[i] - a[i]) * t)) for i in range(3))


class Canvas:
    """A supersampled drawing surface addressed in output (1200x675) units."""

    def __init__(self, bg=CREAM):
        self.img = Image.new("RGB", (W * SS, H * SS), bg)
        self.d = ImageDraw.Draw(self.img)

    # coordinate helpers
    @staticmethod
    def _p(pts):
        return [(x * SS, y * SS) for x, y in pts]

    def gradient(self, y0, y1, stops, x0=0, x1=W):
        """Vertical gradient between y0 and y1 through a list of colour stops."""
        ya, yb = int(y0 * SS), int(y1 * SS)
        n = len(stops) - 1
        for y in range(ya, yb):
            t = (y - ya) / max(1, (yb - ya - 1))
            k = min(int(t * n), n - 1)
            col = mix(stops[k], stops[k + 1], t * n - k)
            self.d.line([(x0 * SS, y), (x1 * SS, y)], fill=col)

    def rect(self, x0, y0, x1, y1, fill, outline=None, width=1):
        self.d.rectangle([x0 * SS, y0 * SS, x1 * SS - 1, y1 * SS - 1], fill=fill,
                         outline=outline, width=width * SS)

    def poly(self, pts, fill):
        self.d.polygon(self._p(pts), fill=fill)

    def ellipse(self, cx, cy, rx, ry, fill, outline=None, width=1):
        self.d.ellipse([(cx - rx) * SS, (cy - ry) * SS, (cx + rx) * SS, (cy + ry) * SS],
                       fill=fill, outline=outline, width=width * SS)

    def circle(self, cx, cy, r, fill, outline=None, width=1):
        self.ellipse(cx, cy, r, r, fill, outline, width)

    def line(self, pts, fill, width=2):
        self.d.line(self._p(pts), fill=fill, width=max(1, int(width * SS)), joint="curve")

    def glow(self, cx, cy, r, colour, strength=0.55):
        """Soft radial glow (e.g. a low sun) composited onto the canvas."""
        layer = Image.new("L", self.img.size, 0)
        ld = ImageDraw.Draw(layer)
        ld.ellipse([(cx - r) * SS, (cy - r) * SS, (cx + r) * SS, (cy + r) * SS],
                   fill=int(255 * strength))
        layer = layer.filter(ImageFilter.GaussianBlur(r * SS * 0.45))
        solid = Image.new("RGB", self.img.size, colour)
        self.img = Image.composite(solid, self.img, layer)
        self.d = ImageDraw.Draw(self.img)

    def finish(self):
        return self.img.resize((W, H), Image.LANCZOS)


# ---------------------------------------------------------------------------
# Reusable scenery


def hills(c, base_y, amp, colour, seed, step=40):
    rng = random.Random(seed)
    pts = [(0, H)]
    phase = rng.uniform(0, 6.28)
    for x in range(0, W + step, step):
        y = base_y - amp * (0.6 * math.sin(x / 210 + phase) + 0.4 * math.sin(x / 97 + phase * 2))
        pts.append((x, y))
    pts.append((W, H))
    c.poly(pts, colour)


def windows(c, x0, y0, x1, y1, rng, lit=AMBER, dark=None, cols=4, rows=10, p=0.45):
    """Grid of windows inside a building face; some lit."""
    bw = (x1 - x0) / cols
    bh = (y1 - y0) / rows
    for i in range(cols):
        for j in range(rows):
            if rng.random() < p:
                col = lit
            elif dark is not None:
                col = dark
            else:
                continue
            wx = x0 + i * bw + bw * 0.22
            wy = y0 + j * bh + bh * 0.25
            c.rect(wx, wy, wx + bw * 0.56, wy + bh * 0.5, col)


# ---------------------------------------------------------------------------
# The pictures


def port_cranes():
    c = Canvas()
    c.gradient(0, 420, [(120, 150, 176), (206, 200, 190), (236, 202, 160)])
    c.glow(880, 360, 120, PALE_GOLD, 0.6)
    c.circle(880, 360, 34, (246, 222, 176))
    # distant shore
    hills(c, 392, 10, (150, 160, 170), seed=3)
    # water
    c.gradient(400, 675, [(96, 126, 146), (52, 78, 98)])
    ripples = random.Random(12)
    for k in range(26):
        y = 530 + ripples.random() * 140
        x = ripples.random() * 560
        c.line([(x, y), (x + ripples.uniform(40, 150), y)], (118, 146, 164), 1.5)
    # quay
    c.rect(0, 470, W, 520, (88, 92, 98))
    c.rect(0, 470, W, 476, (124, 128, 132))
    # container stacks
    rng = random.Random(11)
    palette = [RUST, TEAL, OCHRE, SLATE, BRICK, SAGE, (60, 96, 140), CREAM]
    for stack in range(7):
        sx = 40 + stack * 160
        for row in range(rng.randint(3, 6)):
            for col in range(3):
                x = sx + col * 44
                y = 470 - (row + 1) * 22
                colr = rng.choice(palette)
                c.rect(x, y, x + 42, y + 20, colr)
                for r in range(1, 6):
                    c.line([(x + r * 7, y + 2), (x + r * 7, y + 18)], mix(colr, INK, 0.25), 0.8)
    # ship alongside quay
    for i in range(11):
        for j in range(2 + (i % 3 == 1)):
            colr = palette[(i * 3 + j * 5) % len(palette)]
            x, y = 690 + i * 46, 522 - j * 22
            c.rect(x, y, x + 44, y + 20, colr)
            c.line([(x + 22, y + 2), (x + 22, y + 18)], mix(colr, INK, 0.25), 0.8)
    c.poly([(620, 542), (1200, 542), (1200, 610), (664, 610)], (44, 54, 70))
    c.poly([(620, 542), (1200, 542), (1200, 550), (624, 550)], CHINA_RED)
    c.poly([(664, 610), (1200, 610), (1200, 628), (690, 628)], (40, 64, 84))
    # gantry cranes
    for cx in (230, 560, 900):
        col = (198, 76, 56)
        c.rect(cx - 60, 240, cx - 50, 476, col)
        c.rect(cx + 50, 240, cx + 60, 476, col)
        c.rect(cx - 64, 250, cx + 64, 262, col)
        c.rect(cx - 64, 360, cx + 64, 370, col)
        c.line([(cx - 55, 262), (cx + 55, 360)], col, 3)
        c.line([(cx + 55, 262), (cx - 55, 360)], col, 3)
        # boom reaching over the water
        c.poly([(cx - 140, 232), (cx + 260, 232), (cx + 260, 244), (cx - 140, 244)], col)
        c.poly([(cx - 10, 160), (cx + 10, 160), (cx + 14, 240), (cx - 14, 240)], col)
        c.line([(cx, 165), (cx + 240, 233)], col, 2)
        c.line([(cx, 165), (cx - 130, 233)], col, 2)
        c.rect(cx + 120, 244, cx + 150, 262, (60, 60, 64))
        c.line([(cx + 135, 262), (cx + 135, 330)], INK, 1.2)
    return c.finish()


def stock_chart():
    """Candlestick chart with a highlighted rally (prices mapped to y)."""
    c = Canvas(NAVY)
    c.gradient(0, H, [(24, 34, 52), (40, 56, 80)])
    rng = random.Random(2026)
    n = 44
    xs = [80 + i * 24.0 for i in range(n)]
    # highlight band behind the last rally
    c.rect(xs[31] - 14, 50, xs[-1] + 14, 560, (46, 64, 92))
    for x in range(80, W - 40, 96):
        c.line([(x, 50), (x, 560)], (54, 72, 98), 1)
    for y in range(70, 580, 70):
        c.line([(50, y), (W - 50, y)], (54, 72, 98), 1)
    price = 100.0
    o_c = []
    for i in range(n):
        drift = -0.5 if i < 16 else (0.25 if i < 31 else 1.1)
        o = price
        cl = o + rng.gauss(drift, 1.8)
        hi = max(o, cl) + abs(rng.gauss(0, 1.0))
        lo = min(o, cl) - abs(rng.gauss(0, 1.0))
        o_c.append((o, cl, hi, lo))
        price = cl
    lo_all = min(v[3] for v in o_c)
    hi_all = max(v[2] for v in o_c)

    def Y(v):
        return 540 - (v - lo_all) / (hi_all - lo_all) * 460

    closes = []
    for x, (o, cl, hi, lo) in zip(xs, o_c):
        colr = (104, 180, 142) if cl >= o else (212, 100, 84)
        c.line([(x, Y(hi)), (x, Y(lo))], colr, 1.6)
        top, bot = sorted((Y(o), Y(cl)))
        c.rect(x - 7, top, x + 7, max(bot, top + 2), colr)
        closes.append(Y(cl))
    ma = []
    for i in range(n):
        win = closes[max(0, i - 7): i + 1]
        ma.append(sum(win) / len(win))
    c.line(list(zip(xs, ma)), AMBER, 3)
    # volume
    for x, (o, cl, _, _) in zip(xs, o_c):
        v = 16 + abs(rng.gauss(0, 18)) + abs(cl - o) * 8
        colr = (70, 110, 104) if cl >= o else (112, 72, 74)
        c.rect(x - 7, 640 - v, x + 7, 640, colr)
    c.line([(50, 642), (W - 50, 642)], (80, 98, 124), 1.5)
    return c.finish()


def microchip():
    c = Canvas((26, 70, 62))
    c.gradient(0, H, [(24, 64, 58), (32, 84, 72)])
    rng = random.Random(7)
    trace = (88, 150, 120)
    pad = (202, 170, 96)
    # traces running from the chip outward
    cx0, cy0, cx1, cy1 = 450, 190, 750, 490
    for i in range(12):
        y = cy0 + 22 + i * 23
        # left
        bend = rng.randint(60, 220)
        y2 = y + rng.choice([-60, -30, 0, 30, 60])
        c.line([(cx0 - 30, y), (cx0 - bend, y), (cx0 - bend - 40, y2), (20, y2)], trace, 3)
        c.circle(cx0 - bend - 40, y2, 5, pad)
        # right
        bend = rng.randint(60, 220)
        y2 = y + rng.choice([-60, -30, 0, 30, 60])
        c.line([(cx1 + 30, y), (cx1 + bend, y), (cx1 + bend + 40, y2), (W - 20, y2)], trace, 3)
        c.circle(cx1 + bend + 40, y2, 5, pad)
    for i in range(12):
        x = cx0 + 22 + i * 23
        bend = rng.randint(40, 110)
        x2 = x + rng.choice([-50, 0, 50])
        c.line([(x, cy0 - 30), (x, cy0 - bend), (x2, cy0 - bend - 40), (x2, 0)], trace, 3)
        bend = rng.randint(40, 110)
        x2 = x + rng.choice([-50, 0, 50])
        c.line([(x, cy1 + 30), (x, cy1 + bend), (x2, cy1 + bend + 40), (x2, H)], trace, 3)
    # scattered vias and small components
    for _ in range(40):
        x, y = rng.uniform(20, W - 20), rng.uniform(20, H - 20)
        if cx0 - 60 < x < cx1 + 60 and cy0 - 60 < y < cy1 + 60:
            continue
        c.circle(x, y, 4, pad)
        c.circle(x, y, 1.6, (26, 70, 62))
    for _ in range(9):
        x, y = rng.uniform(60, W - 120), rng.uniform(40, H - 80)
        if cx0 - 120 < x < cx1 + 60 and cy0 - 100 < y < cy1 + 60:
            continue
        c.rect(x, y, x + 46, y + 20, (40, 44, 50))
        c.rect(x, y, x + 8, y + 20, pad)
        c.rect(x + 38, y, x + 46, y + 20, pad)
    # pins
    for i in range(12):
        y = cy0 + 22 + i * 23
        c.rect(cx0 - 30, y - 5, cx0, y + 5, (210, 212, 210))
        c.rect(cx1, y - 5, cx1 + 30, y + 5, (210, 212, 210))
        x = cx0 + 22 + i * 23
        c.rect(x - 5, cy0 - 30, x + 5, cy0, (210, 212, 210))
        c.rect(x - 5, cy1, x + 5, cy1 + 30, (210, 212, 210))
    # chip body with soft shadow
    c.rect(cx0 + 10, cy0 + 12, cx1 + 10, cy1 + 12, (16, 40, 36))
    c.rect(cx0, cy0, cx1, cy1, (34, 38, 46))
    c.rect(cx0 + 40, cy0 + 40, cx1 - 40, cy1 - 40, (48, 54, 64))
    c.rect(cx0 + 70, cy0 + 70, cx1 - 70, cy1 - 70, (60, 68, 80))
    # die pattern
    for i in range(6):
        for j in range(6):
            x = cx0 + 82 + i * 23
            y = cy0 + 82 + j * 23
            c.rect(x, y, x + 17, y + 17, mix((90, 104, 124), PALE_GOLD, ((i + j) % 3) * 0.15))
    c.circle(cx0 + 22, cy0 + 22, 7, (70, 76, 88))
    return c.finish()


def skyline_dusk():
    c = Canvas()
    c.gradient(0, 470, [(44, 50, 88), (110, 86, 122), (214, 130, 108), (242, 186, 132)])
    c.glow(300, 440, 150, (250, 196, 140), 0.55)
    rng = random.Random(5)
    # far layer
    x = 0
    while x < W:
        w = rng.randint(40, 90)
        h = rng.randint(90, 200)
        c.rect(x, 460 - h, x + w, 470, (118, 98, 126))
        x += w + rng.randint(0, 10)
    # TV tower with spheres (generic)
    tx = 820
    c.rect(tx - 6, 90, tx + 6, 470, (70, 60, 90))
    c.poly([(tx - 60, 470), (tx - 8, 260), (tx + 8, 260), (tx + 60, 470)], (70, 60, 90))
    c.circle(tx, 300, 34, (84, 70, 104))
    c.circle(tx, 185, 22, (84, 70, 104))
    c.line([(tx, 40), (tx, 100)], (70, 60, 90), 3)
    # mid layer with windows
    x = -10
    while x < W:
        w = rng.randint(50, 110)
        h = rng.randint(140, 300)
        if 760 < x < 860:
            x += 40
            continue
        colr = (64, 58, 84)
        c.rect(x, 470 - h, x + w, 470, colr)
        if rng.random() < 0.35:
            c.poly([(x, 470 - h), (x + w / 2, 470 - h - 40), (x + w, 470 - h)], colr)
        windows(c, x + 4, 470 - h + 12, x + w - 4, 462, rng,
                lit=(240, 196, 120), cols=max(2, w // 18), rows=max(4, h // 20), p=0.3)
        x += w + rng.randint(6, 24)
    # skyscraper accents
    c.poly([(520, 470), (520, 110), (560, 70), (600, 110), (600, 470)], (52, 48, 72))
    windows(c, 526, 120, 594, 462, rng, lit=(240, 196, 120), cols=4, rows=18, p=0.35)
    # river with reflections
    c.gradient(470, H, [(70, 66, 96), (36, 40, 62)])
    for k in range(40):
        y = 480 + rng.random() * 190
        x = rng.random() * W
        ln = rng.randint(20, 90)
        c.line([(x, y), (x + ln, y)], (210, 150, 118) if rng.random() < 0.4 else (96, 88, 120), 2)
    c.rect(0, 468, W, 474, (40, 38, 56))
    return c.finish()


def factory():
    c = Canvas()
    c.gradient(0, 500, [(150, 164, 176), (214, 208, 196), (232, 214, 186)])
    # smoke plumes
    rng = random.Random(9)
    for chx, chtop in ((300, 120), (390, 150), (880, 100)):
        for k in range(9):
            r = 18 + k * 7
            c.circle(chx + k * 26 + rng.uniform(-6, 6), chtop - 20 - k * 14 + rng.uniform(-4, 4),
                     r, mix((226, 224, 222), (200, 204, 208), k / 9))
    hills(c, 420, 18, (160, 168, 160), seed=1)
    # chimneys
    for chx, chtop in ((300, 120), (390, 150), (880, 100)):
        c.poly([(chx - 22, 440), (chx - 14, chtop), (chx + 14, chtop), (chx + 22, 440)], (132, 82, 70))
        for b in range(2):
            y = chtop + 20 + b * 40
            c.rect(chx - 16, y, chx + 16, y + 10, CREAM)
    # sawtooth hall
    base = 560
    c.rect(80, 400, 760, base, (96, 104, 112))
    for i in range(8):
        x = 80 + i * 85
        c.poly([(x, 400), (x + 85, 400), (x + 85, 330)], (112, 120, 128))
        c.poly([(x + 60, 400), (x + 85, 400), (x + 85, 345)], (170, 196, 208))
    for i in range(10):
        c.rect(100 + i * 65, 440, 140 + i * 65, 500, (70, 76, 84))
    # tall block with tank
    c.rect(780, 330, 1040, base, (120, 108, 98))
    windows(c, 790, 350, 1030, 540, rng, lit=(220, 190, 130), dark=(92, 82, 76), cols=8, rows=5, p=0.3)
    c.ellipse(1110, 430, 60, 18, (140, 146, 150))
    c.rect(1050, 430, 1170, base, (140, 146, 150))
    c.ellipse(1110, 430, 60, 18, (160, 166, 170))
    # pipes
    c.line([(760, 470), (780, 470)], STEEL, 8)
    c.line([(1040, 480), (1050, 480)], STEEL, 8)
    # ground and road
    c.rect(0, base, W, H, (118, 112, 100))
    c.rect(0, 600, W, 640, (84, 84, 88))
    for i in range(12):
        c.rect(20 + i * 110, 618, 80 + i * 110, 622, CREAM)
    # truck
    c.rect(200, 575, 330, 612, (60, 96, 140))
    c.rect(330, 585, 372, 612, CHINA_RED)
    c.rect(344, 590, 366, 600, (190, 210, 220))
    for wx in (226, 300, 352):
        c.circle(wx, 614, 10, INK)
    return c.finish()


def ev_charging():
    c = Canvas()
    c.gradient(0, 440, [(176, 196, 204), (226, 222, 212)])
    # station canopy
    c.rect(0, 110, W, 140, (56, 88, 92))
    c.rect(0, 140, W, 148, (40, 64, 68))
    for x in (120, 1080):
        c.rect(x - 12, 148, x + 12, 470, (64, 72, 80))
    for i in range(6):
        c.rect(60 + i * 190, 148, 160 + i * 190, 154, (240, 236, 220))
    # background greenery
    hills(c, 400, 16, (144, 164, 132), seed=4)
    # floor
    c.gradient(440, H, [(160, 160, 156), (118, 120, 122)])
    c.rect(0, 440, W, 446, (130, 132, 134))
    for x in (300, 700, 1100):
        c.poly([(x, 446), (x + 10, 446), (x + 70, H), (x + 60, H)], CREAM)
    # charger post
    px = 860
    c.rect(px - 8, 440, px + 78, 462, (82, 88, 94))
    c.rect(px, 230, px + 70, 450, (226, 228, 226))
    c.rect(px, 230, px + 70, 252, TEAL)
    c.rect(px + 12, 270, px + 58, 320, (40, 52, 60))
    c.rect(px + 18, 276, px + 52, 300, (110, 196, 170))
    c.circle(px + 35, 350, 10, (60, 66, 72))
    # car (side view) -- shadow first
    c.ellipse(480, 548, 330, 20, (96, 98, 100))
    body = (58, 96, 124)
    c.poly([(170, 520), (160, 470), (190, 450), (330, 430), (420, 372), (520, 360), (640, 362),
            (730, 408), (800, 428), (812, 470), (800, 520)], body)
    # windows
    c.poly([(345, 432), (425, 384), (515, 376), (520, 432)], (178, 200, 214))
    c.poly([(535, 432), (532, 376), (628, 378), (700, 422), (700, 432)], (178, 200, 214))
    c.rect(520, 376, 535, 432, body)
    # lines and lights
    c.line([(190, 470), (805, 470)], mix(body, INK, 0.3), 2)
    c.poly([(790, 436), (810, 440), (812, 456), (794, 454)], (246, 232, 200))
    c.poly([(164, 462), (182, 456), (184, 474), (162, 476)], CHINA_RED)
    c.line([(520, 440), (520, 515)], mix(body, INK, 0.3), 1.5)
    # wheels
    for wx in (300, 680):
        c.circle(wx, 520, 50, INK)
        c.circle(wx, 520, 30, (170, 176, 182))
        c.circle(wx, 520, 10, (90, 96, 102))
        for a in range(5):
            ang = a * 2 * math.pi / 5
            c.line([(wx, 520), (wx + 28 * math.cos(ang), 520 + 28 * math.sin(ang))], (120, 126, 132), 3)
    # cable from post to charging port at rear quarter
    c.line([(px + 35, 360), (px + 20, 420), (880, 470), (820, 480), (790, 455)], (30, 34, 40), 5)
    c.rect(778, 446, 796, 462, (40, 44, 50))
    return c.finish()


def solar_wind():
    c = Canvas()
    c.gradient(0, 420, [(112, 156, 190), (190, 212, 220), (232, 226, 206)])
    c.glow(180, 120, 70, (250, 236, 200), 0.6)
    c.circle(180, 120, 30, (252, 240, 210))
    # turbines standing on the far ridge
    for (tx, ty, s, ang) in ((640, 372, 1.0, 10), (820, 366, 1.25, 50), (1010, 380, 0.9, 80), (470, 384, 0.7, 30)):
        c.poly([(tx - 4 * s, ty), (tx - 1.5 * s, ty - 170 * s), (tx + 1.5 * s, ty - 170 * s), (tx + 4 * s, ty)],
               (236, 238, 236))
        hx, hy = tx, ty - 170 * s
        for k in range(3):
            a = math.radians(ang + k * 120)
            ex, ey = hx + 95 * s * math.cos(a), hy + 95 * s * math.sin(a)
            nx, ny = -math.sin(a) * 4 * s, math.cos(a) * 4 * s
            c.poly([(hx + nx, hy + ny), (ex, ey), (hx - nx, hy - ny)], (244, 244, 242))
        c.circle(hx, hy, 5 * s, (220, 222, 222))
    hills(c, 360, 26, (150, 170, 150), seed=8)
    hills(c, 430, 18, (118, 146, 112), seed=12)
    c.rect(0, 470, W, H, (104, 130, 96))
    # rows of solar panels in perspective
    for r in range(5):
        y = 440 + r * 48
        depth = 0.6 + r * 0.12
        ph = 28 * depth
        for k in range(-2, 22):
            x = k * 100 * depth + (r % 2) * 30
            pw = 90 * depth
            pts = [(x, y + ph), (x + pw, y + ph), (x + pw + 16 * depth, y), (x + 16 * depth, y)]
            c.poly(pts, (40, 62, 96))
            # cell grid
            for g in range(1, 4):
                gx = x + pw * g / 4
                c.line([(gx, y + ph), (gx + 16 * depth, y)], (96, 126, 166), 1)
            c.line([(x + pw / 2, y + ph), (x + pw / 2, y + ph + 10 * depth)], (70, 74, 80), 2)
    return c.finish()


def cargo_ship():
    c = Canvas()
    c.gradient(0, 380, [(128, 152, 172), (200, 206, 206), (228, 214, 190)])
    # clouds
    for (x, y, s) in ((220, 110, 1.0), (760, 80, 1.3), (1020, 160, 0.8)):
        for dx, dy, r in ((0, 0, 40), (45, -15, 50), (95, 0, 38), (40, 15, 40)):
            c.circle(x + dx * s, y + dy * s, r * s, (236, 236, 232))
    # sea
    c.gradient(380, H, [(84, 116, 134), (42, 66, 86)])
    c.rect(0, 378, W, 384, (116, 140, 152))
    rng = random.Random(21)
    for k in range(70):
        y = 400 + (k / 70) ** 1.4 * 270
        x = rng.random() * W
        ln = 20 + (y - 380) * 0.35
        c.line([(x, y), (x + ln, y)], (128, 158, 172), 1 + (y - 380) / 120)
    # ship hull
    hull = (36, 44, 58)
    c.poly([(190, 430), (1020, 430), (1080, 400), (1100, 400), (1040, 500), (230, 500)], hull)
    c.poly([(230, 486), (1047, 486), (1040, 500), (230, 500)], CHINA_RED)
    # container rows on deck
    palette = [RUST, TEAL, OCHRE, SLATE, BRICK, SAGE, (60, 96, 140), CREAM]
    for i in range(16):
        h = rng.randint(3, 5)
        for j in range(h):
            colr = palette[(i * 5 + j * 3 + rng.randint(0, 1)) % len(palette)]
            x = 320 + i * 42
            y = 430 - (j + 1) * 20
            c.rect(x, y, x + 40, y + 18, colr)
    # bridge at the stern
    c.rect(210, 320, 300, 430, (228, 226, 218))
    c.rect(200, 320, 310, 332, (210, 208, 200))
    for i in range(4):
        c.rect(216 + i * 21, 340, 230 + i * 21, 352, (60, 80, 100))
    c.rect(250, 280, 270, 320, (190, 70, 56))
    # wake and bow spray
    c.poly([(230, 500), (120, 520), (40, 540), (160, 512)], (200, 214, 220))
    c.poly([(1040, 500), (1110, 506), (1060, 512)], (210, 222, 226))
    # reflection
    c.poly([(230, 502), (1040, 502), (1020, 530), (250, 530)], (40, 60, 80))
    return c.finish()


def shopping_street():
    c = Canvas()
    c.gradient(0, 300, [(60, 58, 88), (150, 100, 110), (220, 150, 120)])
    vx, vy = 600, 330  # vanishing point
    # road
    c.poly([(vx - 30, vy), (vx + 30, vy), (W, H), (0, H)], (120, 104, 96))
    c.poly([(vx - 6, vy), (vx + 6, vy), (700, H), (500, H)], (146, 128, 116))
    # pavement tiles
    for k in range(1, 14):
        t = (k / 14) ** 1.8
        y = vy + (H - vy) * t
        half = 30 + (W / 2 - 30) * t
        c.line([(vx - half, y), (vx + half, y)], (104, 90, 84), 1 + t * 2)
    rng = random.Random(33)
    shop_cols = [(150, 62, 52), (120, 88, 60), (96, 70, 64), (160, 110, 70), (80, 62, 70)]
    # shop facades on both sides, drawn back to front
    for side in (-1, 1):
        for k in range(9, -1, -1):
            t0 = (k / 10) ** 1.5
            t1 = ((k + 1) / 10) ** 1.5
            x0 = vx + side * (40 + (W / 2 + 40) * t0)
            x1 = vx + side * (40 + (W / 2 + 40) * t1)
            top0 = vy - 60 - 300 * t0
            top1 = vy - 60 - 300 * t1
            bot0 = vy + 20 + (H - vy) * t0
            bot1 = vy + 20 + (H - vy) * t1
            colr = shop_cols[(k + (side > 0)) % len(shop_cols)]
            c.poly([(x0, top0), (x1, top1), (x1, bot1), (x0, bot0)], colr)
            # glowing shopfront
            gy0 = bot0 - (bot0 - top0) * 0.42
            gy1 = bot1 - (bot1 - top1) * 0.42
            c.poly([(x0, gy0), (x1, gy1), (x1, bot1 - 6 * t1), (x0, bot0 - 6 * t0)],
                   mix((246, 200, 130), colr, 0.25 * rng.random()))
            # signboard band
            sy0 = gy0 - (bot0 - top0) * 0.1
            sy1 = gy1 - (bot1 - top1) * 0.1
            c.poly([(x0, sy0), (x1, sy1), (x1, gy1), (x0, gy0)], mix(colr, INK, 0.35))
            # upper windows
            wy0 = top0 + (bot0 - top0) * 0.12
            wy1 = top1 + (bot1 - top1) * 0.12
            wx0 = x0 + (x1 - x0) * 0.3
            wx1 = x0 + (x1 - x0) * 0.7
            tA = 0.3
            tB = 0.7
            c.poly([(wx0, wy0 + (wy1 - wy0) * tA), (wx1, wy0 + (wy1 - wy0) * tB),
                    (wx1, wy0 + (wy1 - wy0) * tB + (bot1 - top1) * 0.2),
                    (wx0, wy0 + (wy1 - wy0) * tA + (bot0 - top0) * 0.2)], (232, 184, 120))
    # strings of lanterns across the street
    for k, t in enumerate((0.08, 0.2, 0.38, 0.62)):
        y = vy - 60 - 300 * t + 40 * t
        half = 40 + (W / 2 + 40) * t
        sag = 30 * t + 6
        pts = []
        for i in range(21):
            u = i / 20
            x = vx - half + 2 * half * u
            pts.append((x, y + sag * 4 * u * (1 - u)))
        c.line(pts, (50, 40, 40), 1 + 2 * t)
        n = 7 + k * 2
        for i in range(1, n):
            u = i / n
            x = vx - half + 2 * half * u
            ly = y + sag * 4 * u * (1 - u)
            r = 6 + 30 * t
            c.line([(x, ly), (x, ly + r * 0.4)], (50, 40, 40), 1 + t)
            c.ellipse(x, ly + r * 1.3, r * 1.05, r * 0.9, (206, 52, 44))
            c.ellipse(x - r * 0.3, ly + r * 1.2, r * 0.35, r * 0.5, (232, 96, 72))
            c.rect(x - r * 0.45, ly + r * 0.35, x + r * 0.45, ly + r * 0.55, (214, 170, 80))
            c.rect(x - r * 0.45, ly + r * 2.1, x + r * 0.45, ly + r * 2.3, (214, 170, 80))
    # a few pedestrians as simple silhouettes
    for (px, py, s) in ((470, 520, 1.0), (540, 470, 0.7), (720, 540, 1.1), (660, 450, 0.6), (380, 600, 1.4)):
        colr = mix(INK, DUSK_PURPLE, 0.3)
        c.circle(px, py - 70 * s, 11 * s, colr)
        c.poly([(px - 16 * s, py - 56 * s), (px + 16 * s, py - 56 * s), (px + 12 * s, py),
                (px - 12 * s, py)], colr)
    return c.finish()


def high_speed_train():
    c = Canvas()
    c.gradient(0, 400, [(150, 176, 196), (214, 218, 214), (236, 224, 200)])
    hills(c, 330, 40, (164, 176, 176), seed=14)
    hills(c, 380, 24, (136, 156, 132), seed=15)
    c.rect(0, 420, W, H, (128, 146, 108))
    # viaduct
    c.rect(0, 452, W, 474, (170, 166, 160))
    c.rect(0, 474, W, 480, (130, 128, 124))
    for x in range(40, W, 160):
        c.poly([(x - 16, 480), (x + 16, 480), (x + 22, H), (x - 22, H)], (150, 146, 140))
    # rails & catenary
    c.line([(0, 450), (W, 450)], (90, 90, 92), 3)
    for x in range(80, W, 240):
        c.rect(x, 300, x + 6, 452, (100, 104, 110))
        c.rect(x - 20, 300, x + 26, 306, (100, 104, 110))
    c.line([(0, 318), (W, 318)], (80, 84, 90), 1.5)
    # speed lines
    rng = random.Random(41)
    for _ in range(22):
        y = rng.uniform(340, 440)
        x = rng.uniform(-100, 500)
        c.line([(x, y), (x + rng.uniform(80, 240), y)], (236, 238, 238), 1.5)
    # train body: long tube with a sloped nose on the right
    body = (240, 242, 240)
    c.poly([(-20, 350), (760, 350), (900, 362), (1000, 390), (1050, 420), (1052, 446),
            (-20, 446)], body)
    # roof shading
    c.poly([(-20, 350), (760, 350), (900, 362), (930, 370), (-20, 370)], (220, 224, 226))
    # stripe
    c.poly([(-20, 420), (1040, 420), (1050, 430), (-20, 430)], (44, 88, 140))
    c.poly([(-20, 432), (1050, 432), (1052, 436), (-20, 436)], CHINA_RED)
    # windows
    for x in range(20, 760, 44):
        c.rect(x, 378, x + 30, 398, (56, 68, 84))
    # cockpit window
    c.poly([(880, 368), (960, 386), (986, 402), (900, 400)], (40, 52, 68))
    # door lines
    for x in (200, 480, 720):
        c.rect(x, 374, x + 3, 418, (200, 204, 208))
    c.rect(0, 446, 1052, 452, (60, 62, 66))
    return c.finish()


def yuan_abstract():
    c = Canvas()
    c.gradient(0, H, [(228, 216, 196), (206, 190, 168)])
    # banknotes fanned out (abstract: guilloche patterns, no text)
    notes = [(-14, (168, 84, 80)), (-6, (140, 76, 84)), (4, (186, 104, 88))]
    for ang, col in notes:
        note = Image.new("RGBA", (760 * SS, 360 * SS), (0, 0, 0, 0))
        nd = ImageDraw.Draw(note)
        nd.rectangle([0, 0, 760 * SS - 1, 360 * SS - 1], fill=col + (255,))
        nd.rectangle([14 * SS, 14 * SS, (760 - 14) * SS, (360 - 14) * SS],
                     outline=mix(col, CREAM, 0.4) + (255,), width=3 * SS)
        # guilloche rosette
        cx, cy = 540 * SS, 180 * SS
        for k in range(36):
            a = k * math.pi / 18
            rx = 120 * SS
            nd.ellipse([cx - rx + 50 * SS * math.cos(a), cy - 70 * SS + 50 * SS * math.sin(a),
                        cx + rx + 50 * SS * math.cos(a) - 100 * SS, cy + 70 * SS + 50 * SS * math.sin(a)],
                       outline=mix(col, CREAM, 0.3) + (255,), width=SS)
        # wave lines
        for j in range(9):
            pts = []
            for x in range(0, 420, 8):
                y = 70 + j * 26 + 9 * math.sin(x / 22 + j)
                pts.append(((30 + x) * SS, y * SS))
            nd.line(pts, fill=mix(col, CREAM, 0.22) + (255,), width=2 * SS)
        # portrait oval placeholder (plain)
        nd.ellipse([60 * SS, 90 * SS, 230 * SS, 280 * SS], fill=mix(col, CREAM, 0.18) + (255,))
        note = note.rotate(ang, resample=Image.BICUBIC, expand=True)
        ox = (W * SS - note.size[0]) // 2 - 160 * SS
        oy = (H * SS - note.size[1]) // 2 - 20 * SS
        shadow = Image.new("RGBA", note.size, (60, 40, 30, 0))
        alpha = note.split()[3].point(lambda v: v * 70 // 255)
        shadow.putalpha(alpha)
        shadow = shadow.filter(ImageFilter.GaussianBlur(10 * SS))
        c.img.paste(shadow, (ox + 12 * SS, oy + 16 * SS), shadow)
        c.img.paste(note, (ox, oy), note)
    c.d = ImageDraw.Draw(c.img)
    # stack of coins on the right (classic round coins with square hole)
    gold, gold_dark, gold_light = (196, 156, 84), (150, 112, 56), (226, 196, 128)
    for stack_x, n in ((900, 9), (1040, 6)):
        for i in range(n):
            y = 560 - i * 16
            c.ellipse(stack_x, y + 8, 86, 26, gold_dark)
            c.rect(stack_x - 86, y, stack_x + 86, y + 8, gold_dark)
            c.ellipse(stack_x, y, 86, 26, gold)
        c.ellipse(stack_x, 560 - (n - 1) * 16, 64, 19, gold_light, outline=gold_dark, width=2)
        c.rect(stack_x - 12, 560 - (n - 1) * 16 - 5, stack_x + 12, 560 - (n - 1) * 16 + 5, gold_dark)
    # a lone coin face-on
    c.circle(760, 560, 70, gold_dark)
    c.circle(756, 556, 70, gold)
    c.circle(756, 556, 56, gold_light, outline=gold_dark, width=3)
    c.rect(736, 536, 776, 576, gold_dark)
    c.rect(741, 541, 771, 571, (206, 190, 168))
    return c.finish()


def construction_site():
    c = Canvas()
    c.gradient(0, 520, [(140, 166, 188), (206, 210, 206), (230, 216, 192)])
    rng = random.Random(55)
    # finished towers in the background
    for x, w, h in ((60, 110, 300), (200, 90, 360), (1000, 120, 330), (1120, 80, 250)):
        c.rect(x, 520 - h, x + w, 520, (176, 180, 184))
        windows(c, x + 6, 520 - h + 10, x + w - 6, 514, rng, lit=(150, 160, 172), cols=5, rows=h // 22, p=0.9)
    # buildings under construction: concrete frame grid
    for x, w, floors in ((360, 200, 15), (640, 220, 11)):
        top = 520 - floors * 24
        c.rect(x, top, x + w, 520, (120, 124, 128))
        for f in range(floors):
            y = 520 - (f + 1) * 24
            c.rect(x, y, x + w, y + 5, (196, 196, 190))
        for k in range(6):
            cx = x + k * (w - 10) / 5
            c.rect(cx, top, cx + 10, 520, (196, 196, 190))
        # lower floors clad in glass / facade
        clad = floors // 2
        c.rect(x, 520 - clad * 24, x + w, 520, (120, 150, 170))
        for f in range(clad):
            y = 520 - (f + 1) * 24
            c.line([(x, y), (x + w, y)], (160, 186, 200), 1.5)
        # green safety netting on the top floors
        c.rect(x - 4, top - 4, x + w + 4, top + 48, (92, 130, 104))
        for g in range(0, int(w + 8), 14):
            c.line([(x - 4 + g, top - 4), (x - 4 + g, top + 48)], (112, 150, 122), 1)
    # tower cranes
    ycol = (222, 176, 64)
    for mx, mtop, jib_l, jib_r in ((470, 70, 180, 330), (780, 150, 300, 170)):
        c.rect(mx - 9, mtop, mx + 9, 520, ycol)
        for y in range(int(mtop), 520, 22):
            c.line([(mx - 9, y), (mx + 9, y + 22)], (170, 130, 40), 1.5)
        c.rect(mx - jib_l, mtop, mx + jib_r, mtop + 10, ycol)
        for x in range(int(mx - jib_l), int(mx + jib_r), 18):
            c.line([(x, mtop), (x + 9, mtop + 10)], (170, 130, 40), 1)
        c.poly([(mx - 8, mtop), (mx, mtop - 46), (mx + 8, mtop)], ycol)
        c.line([(mx, mtop - 46), (mx + jib_r, mtop)], (80, 80, 80), 1.2)
        c.line([(mx, mtop - 46), (mx - jib_l, mtop)], (80, 80, 80), 1.2)
        c.rect(mx - jib_l, mtop + 10, mx - jib_l + 46, mtop + 34, (110, 114, 118))
        c.rect(mx + 4, mtop + 12, mx + 30, mtop + 34, (70, 84, 96))
        hx = mx + jib_r * 0.7
        c.line([(hx, mtop + 10), (hx, mtop + 150)], INK, 1.2)
        c.rect(hx - 26, mtop + 150, hx + 26, mtop + 160, (150, 90, 60))
    # ground, hoarding fence and site
    c.rect(0, 520, W, H, (160, 140, 112))
    c.rect(0, 560, W, 610, (220, 222, 216))
    for i in range(0, W, 60):
        c.rect(i, 560, i + 60, 568, (70, 120, 110))
    for (x, y, r) in ((140, 548, 40), (980, 545, 46), (860, 552, 30)):
        c.poly([(x - r * 1.6, 560), (x, y - r * 0.6), (x + r * 1.6, 560)], (176, 150, 116))
    c.rect(0, 610, W, H, (132, 118, 98))
    return c.finish()


def soybean_field():
    c = Canvas()
    c.gradient(0, 330, [(120, 160, 196), (206, 214, 210), (240, 226, 190)])
    c.glow(1000, 250, 90, PALE_GOLD, 0.55)
    # distant tree line, silos and barn
    hills(c, 316, 8, (110, 130, 100), seed=6, step=20)
    c.rect(880, 210, 930, 320, (184, 188, 190))
    c.ellipse(905, 210, 25, 14, (200, 204, 206))
    c.rect(940, 236, 980, 320, (170, 174, 178))
    c.ellipse(960, 236, 20, 11, (190, 194, 196))
    c.poly([(990, 320), (990, 260), (1040, 236), (1090, 260), (1090, 320)], (150, 70, 58))
    c.rect(1025, 280, 1055, 320, (110, 50, 42))
    # field base colour, hazier towards the horizon
    horizon = 320
    c.gradient(horizon, H, [(170, 168, 110), (128, 136, 70), (104, 118, 56)])
    # crop rows converge on a vanishing point; drawn on a layer that fades
    # out towards the horizon so the distance stays soft
    rows = Canvas((0, 0, 0))
    vx = 560
    for k in range(-60, 61):
        xb = vx + k * 64
        rows.poly([(vx + k * 0.9, horizon), (vx + k * 0.9 + 0.6, horizon),
                   (xb + 20, H), (xb - 20, H)], (255, 255, 255))
    mask = rows.img.convert("L")
    fade = Image.new("L", mask.size, 0)
    fd = ImageDraw.Draw(fade)
    for y in range(horizon * SS, H * SS):
        u = min(1.0, (y / SS - horizon) / 300)
        fd.line([(0, y), (W * SS, y)], fill=int(255 * u ** 1.5))
    mask = ImageChops.multiply(mask, fade)
    solid = Image.new("RGB", c.img.size, (82, 104, 50))
    c.img = Image.composite(solid, c.img, mask)
    c.d = ImageDraw.Draw(c.img)
    # leafy plants along the nearest rows, staggered so they don't line up
    rng = random.Random(66)
    for k in range(-12, 13):
        t = 0.22 + rng.random() * 0.08
        while t < 1.05:
            y = horizon + (H - horizon) * t
            xb = vx + k * 64
            x = vx + k * 0.9 + (xb - vx - k * 0.9) * t + 32 * t
            r = 2 + 17 * t
            col = mix((118, 142, 62), (172, 166, 80), rng.random() * 0.7)
            for dx, dy in ((-0.8, 0.1), (0.8, 0.1), (0, -0.6)):
                c.ellipse(x + dx * r, y + dy * r, r * 0.85, r * 0.55, col)
            t += 0.08 + 0.1 * t
    return c.finish()


def government_building():
    c = Canvas()
    c.gradient(0, 520, [(120, 150, 180), (200, 208, 212), (232, 222, 204)])
    # flagpole with a plain red flag (no emblem)
    c.rect(596, 40, 602, 150, (90, 90, 94))
    c.poly([(602, 46), (690, 52), (684, 84), (602, 90)], CHINA_RED)
    # pediment / roof
    stone = (222, 212, 192)
    stone_dark = (190, 178, 156)
    c.poly([(250, 240), (600, 148), (950, 240)], stone)
    c.poly([(290, 232), (600, 164), (910, 232)], stone_dark)
    c.rect(240, 240, 960, 272, stone)
    c.rect(240, 264, 960, 272, stone_dark)
    # columns
    n = 10
    for i in range(n):
        x = 275 + i * (650 / (n - 1))
        c.rect(x - 19, 272, x + 19, 284, stone_dark)
        c.rect(x - 15, 284, x + 15, 486, stone)
        for f in (-8, 0, 8):
            c.line([(x + f, 288), (x + f, 482)], stone_dark, 1.2)
        c.rect(x - 20, 486, x + 20, 498, stone_dark)
    # shadowed interior between columns
    for i in range(n - 1):
        x0 = 275 + i * (650 / (n - 1)) + 15
        x1 = 275 + (i + 1) * (650 / (n - 1)) - 15
        c.rect(x0, 284, x1, 486, (150, 140, 126))
        c.rect(x0 + 8, 330, x1 - 8, 470, (112, 104, 96))
    # wings
    for x0, x1 in ((40, 240), (960, 1160)):
        c.rect(x0, 300, x1, 498, (206, 196, 176))
        c.rect(x0, 300, x1, 312, stone)
        for i in range(4):
            for j in range(3):
                wx = x0 + 20 + i * 46
                wy = 330 + j * 54
                c.rect(wx, wy, wx + 26, wy + 36, (112, 116, 122))
    # steps
    for k in range(6):
        y = 498 + k * 12
        c.rect(200 - k * 12, y, 1000 + k * 12, y + 12, mix(stone, stone_dark, (k % 2) * 0.5))
    # plaza and trees
    c.rect(0, 570, W, H, (180, 172, 160))
    for k in range(1, 5):
        c.line([(0, 570 + k * 26), (W, 570 + k * 26)], (166, 158, 146), 1)
    for x in (80, 1120):
        c.rect(x - 6, 470, x + 6, 580, (90, 70, 56))
        c.circle(x, 440, 56, (88, 118, 84))
        c.circle(x - 28, 470, 38, (76, 104, 74))
        c.circle(x + 26, 466, 40, (100, 130, 92))
    return c.finish()


PICTURES = {
    "port-cranes": port_cranes,
    "stock-chart": stock_chart,
    "microchip": microchip,
    "skyline-dusk": skyline_dusk,
    "factory": factory,
    "ev-charging": ev_charging,
    "solar-wind": solar_wind,
    "cargo-ship": cargo_ship,
    "shopping-street": shopping_street,
    "high-speed-train": high_speed_train,
    "yuan-notes": yuan_abstract,
    "construction-site": construction_site,
    "soybean-field": soybean_field,
    "government-building": government_building,
}


def main(argv):
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent / "images"
    out.mkdir(parents=True, exist_ok=True)
    for name, fn in PICTURES.items():
        img = fn()
        path = out / f"{name}.jpg"
        img.save(path, "JPEG", quality=QUALITY, optimize=True, progressive=False)
        print(f"{path}  {path.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
