"""The demo's product models drawn on a square canvas: body shapes, surface patterns, colours.

demo.py photographs each drawing as sellers would; everything here is deterministic given
a model's spec and palette.
"""
import colorsys
from dataclasses import dataclass

import cv2
import numpy as np

CANVAS = 320  # side of the square canvas each model is drawn on before warping into a photo
SUBPIXEL_BITS = 4
SHAPES = ("oxford", "boot", "sneaker", "pump", "handbag", "backpack", "tote", "clutch", "duffel")
PATTERNS = ("stripes", "diagonal", "dots", "checks", "zigzag", "diamonds", "plaid", "waves", "panels")
STYLES = 3  # structural variants per shape, so models of one shape differ in silhouette
PATTERN_PERIODS = (0.085, 0.13, 0.06)  # pattern period per style, as a share of the canvas
NEUTRALS = ((238, 233, 222), (32, 30, 32), (112, 74, 46), (196, 164, 118), (150, 150, 156))
METALS = ((212, 175, 60), (196, 198, 206))


@dataclass(frozen=True)
class Art:
    """A model drawn on the square canvas: premultiplied RGB, alpha in [0, 1], object box."""

    rgb: np.ndarray
    alpha: np.ndarray
    box: tuple


# ----- colours -----

def hsv(hue, saturation, value):
    return tuple(round(255 * c) for c in colorsys.hsv_to_rgb(hue % 1.0, saturation, value))


def random_palette(hue, rng):
    value = rng.uniform(0.45, 0.95)
    contrast = 0.25 if value > 0.65 else 0.95  # pattern ink stands out from the body
    accent = NEUTRALS[rng.integers(len(NEUTRALS))] if rng.random() < 0.3 else hsv(hue + 0.33, 0.7, 0.8)
    return {
        "body": hsv(hue, rng.uniform(0.55, 0.95), value),
        "ink": hsv(hue + rng.uniform(0.4, 0.6), rng.uniform(0.3, 0.8), contrast),
        "trim": NEUTRALS[rng.integers(len(NEUTRALS))],
        "accent": accent,
        "metal": METALS[rng.integers(len(METALS))],
    }


def recoloured(palette, rng):
    red, green, blue = (c / 255 for c in palette["body"])
    hue, saturation, value = colorsys.rgb_to_hsv(red, green, blue)
    shift = rng.uniform(0.07, 0.14) * rng.choice((-1, 1))
    value = float(np.clip(value + rng.uniform(-0.15, 0.15), 0.35, 1))
    return {**palette, "body": hsv(hue + shift, saturation, value)}


# ----- drawing a model on the canvas -----

class _Sketch:
    """Collects the parts of one object as (colour role, mask) pairs, in unit coordinates."""

    def __init__(self, side=CANVAS):
        self.side = side
        self.parts = []

    def _px(self, value):
        return int(round(value * self.side * (1 << SUBPIXEL_BITS)))

    def _add(self, role, draw):
        mask = np.zeros((self.side, self.side), np.uint8)
        draw(mask)
        self.parts.append((role, mask))

    def polygon(self, role, points):
        pts = np.array([[self._px(x), self._px(y)] for x, y in points], np.int32)
        self._add(role, lambda m: cv2.fillPoly(m, [pts], 255, cv2.LINE_AA, SUBPIXEL_BITS))

    def rounded_box(self, role, x0, y0, x1, y1, radius):
        corners = ((x1 - radius, y1 - radius, 0), (x0 + radius, y1 - radius, 90),
                   (x0 + radius, y0 + radius, 180), (x1 - radius, y0 + radius, 270))
        angles = np.radians(np.linspace(0, 90, 7))
        points = [(cx + radius * np.cos(a + np.radians(start)), cy + radius * np.sin(a + np.radians(start)))
                  for cx, cy, start in corners for a in angles]
        self.polygon(role, points)

    def ellipse(self, role, center, axes, start=0, end=360, thickness=None):
        c = (self._px(center[0]), self._px(center[1]))
        a = (self._px(axes[0]), self._px(axes[1]))
        width = -1 if thickness is None else max(1, round(thickness * self.side))
        self._add(role, lambda m: cv2.ellipse(m, c, a, 0, start, end, 255, width, cv2.LINE_AA, SUBPIXEL_BITS))

    def line(self, role, start, end, thickness):
        p0 = (self._px(start[0]), self._px(start[1]))
        p1 = (self._px(end[0]), self._px(end[1]))
        width = max(1, round(thickness * self.side))
        self._add(role, lambda m: cv2.line(m, p0, p1, 255, width, cv2.LINE_AA, SUBPIXEL_BITS))


def _oxford(sk, k, style):
    """Lace-up shoe, loafer with a saddle strap, or ankle-high chukka."""
    top, sole = (0.42, 0.48, 0.26)[style] + 0.04 * k[0], 0.72
    sk.polygon("body", [(0.07, sole), (0.06, top + 0.05), (0.10, top - 0.02), (0.20, top), (0.36, top + 0.08),
                        (0.50, max(top + 0.03, 0.40)), (0.66, 0.50), (0.82, 0.58 + 0.04 * k[1]),
                        (0.93, sole - 0.05), (0.95, sole)])
    if style == 1:
        sk.polygon("accent", [(0.40, 0.59), (0.54, 0.54), (0.60, sole), (0.46, sole)])
    else:
        sk.polygon("accent", [(0.07, sole), (0.065, top + 0.07), (0.17 + 0.05 * style, top + 0.1), (0.24, sole)])
        sk.polygon("accent", [(0.80, 0.57), (0.90, 0.62), (0.95, sole), (0.76, sole)])
    sk.polygon("trim", [(0.05, sole - 0.01), (0.96, sole - 0.01), (0.95, sole + 0.05), (0.30, sole + 0.05),
                        (0.28, sole + 0.10), (0.08, sole + 0.10), (0.06, sole + 0.05)])
    for step in range((3, 0, 5)[style]):
        x, y = 0.40 + 0.05 * step, max(top + 0.05, 0.42) + 0.025 * step
        sk.line("metal", (x - 0.02, y), (x + 0.05, y + 0.03), 0.012)


def _boot(sk, k, style):
    """Tall boot with cuff and buckle, ankle boot with elastic side, or lace-up boot on a lug sole."""
    top, right, sole = (0.08, 0.34, 0.14)[style] + 0.04 * k[0], 0.46 + 0.04 * k[1], 0.80
    sk.polygon("body", [(0.14, sole), (0.13, top), (right, top), (right + 0.02, 0.52), (0.66, 0.60 + 0.03 * k[2]),
                        (0.86, 0.67), (0.93, 0.74), (0.94, sole)])
    sole_depth = 0.09 if style == 2 else 0.05
    sk.polygon("trim", [(0.12, sole - 0.01), (0.95, sole - 0.01), (0.94, sole + sole_depth), (0.36, sole + sole_depth),
                        (0.34, sole + 0.12), (0.14, sole + 0.12), (0.12, sole + sole_depth)])
    if style == 0:
        sk.polygon("accent", [(0.13, top), (right, top), (right + 0.003, top + 0.09), (0.13, top + 0.09)])
        sk.line("accent", (0.11, 0.50), (right + 0.04, 0.47), 0.05)
        sk.rounded_box("metal", right - 0.10, 0.45, right - 0.04, 0.52, 0.01)
    elif style == 1:
        sk.polygon("accent", [(0.24, top + 0.01), (0.36, top + 0.01), (0.33, 0.66), (0.27, 0.66)])
    else:
        for step in range(7):
            y = top + 0.05 + 0.06 * step
            sk.line("metal", (right - 0.09, y), (right + 0.01 + 0.02 * (step > 4), y + 0.02), 0.014)


def _sneaker(sk, k, style):
    """Low trainer with a side swoosh, high-top with an ankle patch, or laceless platform slip-on."""
    top = (0.30, 0.12, 0.30)[style] + 0.04 * k[1]
    sole = (0.66, 0.66, 0.64)[style] + 0.03 * k[0]
    sk.polygon("body", [(0.07, sole + 0.02), (0.07, top + 0.10), (0.12, top), (0.30, top + 0.03),
                        (0.42, max(top - 0.02, 0.30)), (0.58, 0.40), (0.80, 0.48), (0.93, 0.56), (0.95, sole + 0.02)])
    sk.rounded_box("trim", 0.05, sole, 0.96, (0.82, 0.82, 0.88)[style] + 0.03 * k[2], 0.06)
    sk.line("accent", (0.08, sole + 0.07), (0.93, sole + 0.07), 0.02)
    if style == 2:
        sk.polygon("accent", [(0.38, 0.34), (0.52, 0.38), (0.46, 0.50)])
        return
    sk.polygon("accent", [(0.18, sole - 0.01), (0.50, 0.50), (0.80, 0.50), (0.56, 0.58), (0.26, sole + 0.01)])
    if style == 1:
        sk.ellipse("accent", (0.16, top + 0.16), (0.06, 0.06))
    for step in range(4 + 2 * style):
        x, y = 0.44 + 0.04 * step - 0.12 * style, 0.34 + 0.025 * step - 0.12 * style
        sk.line("metal", (x, y), (x + 0.05, y + 0.04), 0.012)


def _pump(sk, k, style):
    """Stiletto pump, block heel with an ankle strap, or wedge."""
    dip = 0.52 + 0.04 * k[0]
    heels = ([(0.09, 0.36), (0.18, 0.40), (0.165 + 0.02 * k[1], 0.92), (0.14, 0.92)],
             [(0.08, 0.36), (0.22, 0.42), (0.22, 0.92), (0.11, 0.92)],
             [(0.08, 0.36), (0.40, 0.60), (0.62, 0.74), (0.62, 0.80), (0.10, 0.92)])
    sk.polygon("trim", heels[style])
    sk.polygon("body", [(0.08, 0.20), (0.20, 0.24), (0.36, 0.44), (0.55, dip), (0.72, dip + 0.02), (0.88, 0.64),
                        (0.95, 0.74), (0.90, 0.79), (0.62, 0.73), (0.36, 0.58), (0.17, 0.42), (0.08, 0.38)])
    sk.polygon("trim", [(0.95, 0.74), (0.90, 0.80), (0.62, 0.75), (0.36, 0.60), (0.17, 0.44), (0.17, 0.42),
                        (0.36, 0.58), (0.62, 0.73), (0.90, 0.78)])
    if style == 1:
        sk.ellipse("accent", (0.21, 0.20), (0.11, 0.05), 0, 360, 0.025)
    else:
        sk.ellipse("accent", (0.62, dip + 0.03), (0.06, 0.035 + 0.01 * k[2]))


def _handbag(sk, k, style):
    """Top-handle bag with a flap, zipped bag with two short handles, or small crossbody on a long strap."""
    top = (0.42, 0.40, 0.52)[style] + 0.04 * k[0]
    if style == 0:
        sk.ellipse("accent", (0.5, top + 0.01), (0.22 + 0.05 * k[1], 0.30 + 0.04 * k[2]), 180, 360, 0.045)
    elif style == 1:
        for x in (0.36, 0.64):
            sk.ellipse("accent", (x, top + 0.01), (0.09, 0.14 + 0.03 * k[2]), 180, 360, 0.03)
    else:
        sk.ellipse("accent", (0.5, top + 0.02), (0.30, 0.48), 180, 360, 0.015)
    left = 0.20 if style == 0 else 0.12 + 0.04 * k[1]
    sk.polygon("body", [(left, top), (1 - left, top), (0.90, 0.86), (0.86, 0.92), (0.14, 0.92), (0.10, 0.86)])
    if style == 1:
        sk.line("metal", (left + 0.04, top + 0.04), (0.96 - left, top + 0.04), 0.012)
        return
    flap = top + (0.16, 0.0, 0.12)[style]
    sk.polygon("trim", [(left, top), (1 - left, top), (1 - left + 0.03, flap), (0.5, flap + 0.10), (left - 0.03, flap)])
    sk.ellipse("metal", (0.5, flap + 0.07), (0.035, 0.035))


def _backpack(sk, k, style):
    """Backpack with a front pocket, with a buckled top flap, or with two side-by-side pockets."""
    left = (0.20, 0.18, 0.26)[style] - 0.03 * k[0]
    sk.ellipse("accent", (0.5, 0.16), (0.08, 0.07), 180, 360, 0.03)
    for x in (left - 0.06, 1 - left):
        sk.polygon("accent", [(x, 0.30), (x + 0.06, 0.30), (x + 0.06, 0.86), (x, 0.86)])
    sk.rounded_box("body", left, 0.14, 1 - left, 0.92, 0.16 + 0.04 * k[1])
    pocket_top = 0.56 + 0.05 * k[2]
    if style == 1:
        sk.rounded_box("trim", left, 0.14, 1 - left, 0.50, 0.16)
        for x in (0.38, 0.62):
            sk.line("accent", (x, 0.40), (x, 0.70), 0.035)
            sk.rounded_box("metal", x - 0.03, 0.62, x + 0.03, 0.67, 0.01)
        return
    pockets = ((0.28, 0.72),) if style == 0 else ((0.30, 0.48), (0.52, 0.70))
    for x0, x1 in pockets:
        sk.rounded_box("trim", x0, pocket_top, x1, 0.86, 0.05)
        sk.line("metal", (x0 + 0.02, pocket_top + 0.04), (x1 - 0.02, pocket_top + 0.04), 0.012)


def _tote(sk, k, style):
    """Tote with two handles, wide shopper with long shoulder straps, or bucket bag with a drawstring."""
    top = (0.36, 0.46, 0.30)[style] + 0.04 * k[0]
    if style == 2:
        sk.ellipse("accent", (0.5, top + 0.01), (0.30, 0.28), 180, 360, 0.02)
        sk.polygon("body", [(0.26, top), (0.74, top), (0.88, 0.80), (0.78, 0.92), (0.22, 0.92), (0.12, 0.80)])
        sk.line("metal", (0.26, top + 0.05), (0.74, top + 0.05), 0.015)
        sk.ellipse("metal", (0.5, top + 0.09), (0.02, 0.04))
        return
    spread, height = (0.14, 0.26)[style] + 0.03 * k[1], (0.26, 0.40)[style] + 0.04 * k[2]
    for x in (0.5 - spread, 0.5 + spread):
        sk.ellipse("accent", (x, top + 0.01), (0.10, height), 180, 360, 0.03)
    edge = (0.12, 0.05)[style]
    sk.polygon("body", [(edge, top), (1 - edge, top), (0.96 - edge, 0.92), (0.04 + edge, 0.92)])
    sk.polygon("trim", [(edge, top), (1 - edge, top), (1 - edge, top + 0.07), (edge, top + 0.07)])
    if style == 1:
        sk.rounded_box("trim", 0.30, 0.62, 0.70, 0.84, 0.03)


def _clutch(sk, k, style):
    """Envelope clutch, kiss-lock frame purse, or zip wallet with a wrist strap."""
    if style == 1:
        top = 0.34 + 0.04 * k[0]
        sk.rounded_box("body", 0.18, top, 0.82, 0.84 + 0.03 * k[1], 0.14)
        sk.ellipse("metal", (0.5, top + 0.02), (0.30, 0.06), 180, 360, 0.02)
        for x in (0.46, 0.54):
            sk.ellipse("metal", (x, top - 0.06), (0.03, 0.03))
        return
    top, bottom = 0.34 + 0.04 * k[0], 0.74 + 0.03 * k[1]
    sk.ellipse("accent", (0.86, (top + bottom) / 2), (0.09, 0.14), 270, 450, 0.025)
    sk.rounded_box("body", 0.04, top, 0.86, bottom, 0.04)
    if style == 0:
        sk.polygon("trim", [(0.04, top), (0.86, top), (0.86, top + 0.06), (0.45, top + 0.28 + 0.04 * k[2]),
                            (0.04, top + 0.06)])
        sk.ellipse("metal", (0.45, top + 0.26 + 0.04 * k[2]), (0.03, 0.03))
    else:
        sk.rounded_box("trim", 0.04, top, 0.86, top + 0.08, 0.03)
        sk.line("metal", (0.08, top + 0.04), (0.82, top + 0.04), 0.012)
        sk.rounded_box("trim", 0.12, top + 0.16, 0.40, bottom - 0.06, 0.02)


def _duffel(sk, k, style):
    """Barrel duffel with round ends, boxy weekender on a shoulder strap, or holdall with end pockets."""
    top, bottom = 0.38 + 0.04 * k[0], 0.86
    if style == 1:
        sk.ellipse("accent", (0.5, top + 0.02), (0.40, 0.34), 180, 360, 0.015)
    sk.ellipse("accent", (0.5, top + 0.02), (0.18 + 0.04 * k[1], 0.18), 180, 360, 0.035)
    radius = ((bottom - top) / 2, 0.05, 0.10)[style]
    sk.rounded_box("body", 0.06, top, 0.94, bottom, radius)
    if style == 0:
        for x in (0.13, 0.87):
            sk.ellipse("trim", (x, (top + bottom) / 2), (0.06 + 0.01 * k[2], (bottom - top) * 0.45))
    elif style == 1:
        sk.rounded_box("trim", 0.58, top + 0.14, 0.88, bottom - 0.06, 0.03)
    else:
        for x0 in (0.06, 0.78):
            sk.rounded_box("trim", x0, top + 0.10, x0 + 0.16, bottom, 0.04)
    sk.line("metal", (0.22, top + 0.04), (0.78, top + 0.04), 0.012)


_SHAPE_DRAWERS = {"oxford": _oxford, "boot": _boot, "sneaker": _sneaker, "pump": _pump, "handbag": _handbag,
                  "backpack": _backpack, "tote": _tote, "clutch": _clutch, "duffel": _duffel}


def _band(u, period, duty):
    """Anti-aliased periodic bands along coordinate `u`, one band of width duty*period per period."""
    distance = np.abs((u / period) % 1.0 - 0.5) * period
    return np.clip(duty * period / 2 - distance + 0.5, 0, 1)


def _pattern_layers(pattern, knobs, style, side=CANVAS):
    """The pattern as (colour role, coverage in [0, 1]) layers painted over the body colour."""
    y, x = np.mgrid[0:side, 0:side].astype(np.float32)
    period = side * PATTERN_PERIODS[style] * (1 + 0.15 * knobs[3])
    if pattern == "stripes":
        return [("ink", _band(y, period, 0.45))]
    if pattern == "diagonal":
        return [("ink", _band((x + np.sign(knobs[0] + 1e-9) * y) / np.sqrt(2), period, 0.4))]
    if pattern == "dots":
        shifted = x + (np.floor(y / period) % 2) * period / 2
        dx, dy = shifted % period - period / 2, y % period - period / 2
        return [("ink", np.clip(0.3 * period - np.hypot(dx, dy) + 0.5, 0, 1))]
    if pattern == "checks":
        wave = np.sin(np.pi * x / period) * np.sin(np.pi * y / period)
        return [("ink", np.clip(0.5 + 3 * wave, 0, 1))]
    if pattern == "zigzag":
        return [("ink", _band(y + period * 1.2 * np.abs((x / period) % 1.0 - 0.5), period, 0.35))]
    if pattern == "diamonds":
        dx, dy = np.abs(x % period - period / 2), np.abs(y % (1.4 * period) - 0.7 * period)
        return [("ink", np.clip(0.45 * period - dx - dy / 1.4 + 0.5, 0, 1))]
    if pattern == "plaid":
        wide = np.maximum(_band(x, 1.6 * period, 0.35), _band(y, 1.6 * period, 0.35))
        thin = np.maximum(_band(x + 0.8 * period, 1.6 * period, 0.07), _band(y + 0.8 * period, 1.6 * period, 0.07))
        return [("trim", 0.6 * wide), ("ink", thin)]
    if pattern == "waves":
        return [("ink", _band(y + 0.25 * period * np.sin(2 * np.pi * x / (2 * period)), period, 0.4))]
    if pattern == "panels":
        angle = np.radians(40 + 15 * knobs[0])
        cut = np.clip(x * np.cos(angle) + y * np.sin(angle) - side * (0.75 + 0.1 * knobs[1]) + 0.5, 0, 1)
        side_panel = np.clip(side * (0.32 + 0.05 * knobs[2]) - x + 0.5, 0, 1) * (1 - cut)
        return [("ink", cut), ("trim", side_panel)]
    raise ValueError(f"unknown pattern {pattern!r}; choose from {PATTERNS}")


def float_colour(rgb):
    return np.array(rgb, np.float32)


def _body_fill(spec, palette):
    fill = np.full((CANVAS, CANVAS, 3), float_colour(palette["body"]), np.float32)
    for role, coverage in _pattern_layers(spec.pattern, spec.knobs, spec.style):
        fill += coverage[..., None] * (float_colour(palette[role]) - fill)
    return fill


def draw_model(spec, palette):
    sketch = _Sketch()
    _SHAPE_DRAWERS[spec.shape](sketch, spec.knobs, spec.style)
    body = _body_fill(spec, palette)
    rgb = np.zeros((CANVAS, CANVAS, 3), np.float32)
    alpha = np.zeros((CANVAS, CANVAS), np.float32)
    kernel = np.ones((3, 3), np.uint8)
    for role, mask in sketch.parts:
        cover = mask.astype(np.float32) / 255
        fill = body if role == "body" else float_colour(palette[role])
        rgb += cover[..., None] * (fill - rgb)
        seam = cover - cv2.erode(cover, kernel)  # a dark seam keeps parts apart
        rgb *= 1 - 0.45 * seam[..., None]
        alpha = np.maximum(alpha, cover)
    light = np.linspace(1.12, 0.82, CANVAS, dtype=np.float32)[:, None, None]  # lit from above
    rgb = np.clip(rgb * light, 0, 255)
    ys, xs = np.nonzero(alpha > 0)
    return Art(rgb, alpha, (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
