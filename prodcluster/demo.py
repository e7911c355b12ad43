"""A small, deterministic product-photo data set for trying the pipeline without real data.

Each "model" is a product-like object (shoe, boot, bag, ...) drawn with OpenCV from a body
shape, a surface pattern and a colour scheme; models differ in shape and pattern, so a
clustering stage has a true answer to recover. Each photo is one seller's picture of a
model: its own size, scale, position, tilt, perspective, lighting, background, optional
text or logo and JPEG quality. File names follow the real scheme MODELID_PRODUCTID_IMAGEID
(e.g. M003_P4821_I02.jpg), where several product ids (sellers' listings) share one model.
The same seed always gives byte-identical files.
"""
import colorsys
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from prodcluster.fileio import atomic_path, save_image
from prodcluster.settings import DEFAULTS, check_whole

log = logging.getLogger(__name__)

DEMO_MODELS = 24
DEMO_PHOTOS_PER_MODEL = 10
DEMO_SEED = 0
PHOTO_SIDE_RANGE = (224, 320)  # width and height are drawn independently
JPEG_QUALITY_RANGE = (60, 95)
PRODUCTS_PER_MODEL_RANGE = (2, 4)  # sellers listing one model
SECOND_COLOURWAY_SHARE = 0.35  # share of models sold in two colours

CANVAS = 320  # side of the square canvas each model is drawn on before warping into a photo
SUBPIXEL_BITS = 4
SHAPES = ("oxford", "boot", "sneaker", "pump", "handbag", "backpack", "tote", "clutch", "duffel")
PATTERNS = ("stripes", "diagonal", "dots", "checks", "zigzag", "diamonds", "plaid", "waves", "panels")
STYLES = 3  # structural variants per shape, so models of one shape differ in silhouette
PATTERN_PERIODS = (0.085, 0.13, 0.06)  # pattern period per style, as a share of the canvas
BACKGROUNDS = ("plain", "gradient", "shelf", "blobs", "texture")
BACKGROUND_WEIGHTS = (0.45, 0.25, 0.1, 0.1, 0.1)  # sellers mostly shoot on plain white
NEUTRALS = ((238, 233, 222), (32, 30, 32), (112, 74, 46), (196, 164, 118), (150, 150, 156))
METALS = ((212, 175, 60), (196, 198, 206))
OVERLAY_WORDS = ("SALE", "NEW", "BEST", "HOT", "-30%", "FREE SHIP", "OUTLET", "TODAY", "2+1", "shop24")
TEXT_COLOURS = ((200, 20, 30), (20, 20, 20), (255, 255, 255), (20, 60, 160))
FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_COMPLEX)


@dataclass(frozen=True)
class ModelSpec:
    """What stays the same in every photo of one model."""

    model_id: str
    shape: str
    pattern: str
    style: int  # which of three built-in variants of the shape (e.g. flap or zip, high or low)
    knobs: tuple  # proportions in [-1, 1] that make models of one shape differ
    colourways: tuple  # one or two palettes: dicts of role -> RGB


@dataclass(frozen=True)
class _Art:
    """A model drawn on the square canvas: premultiplied RGB, alpha in [0, 1], object box."""

    rgb: np.ndarray
    alpha: np.ndarray
    box: tuple


def make_demo(folder, n_models=DEMO_MODELS, photos_per_model=DEMO_PHOTOS_PER_MODEL, seed=DEMO_SEED,
              mask_folder=None):
    """Write the demo photos into `folder` and return their paths (sorted).

    With `mask_folder`, the true foreground mask of each photo is also written there as a
    0/255 greyscale PNG with the same stem.
    """
    _require_count("n_models", n_models)
    _require_count("photos_per_model", photos_per_model)
    _require_count("seed", seed, minimum=0)
    specs = [model_spec(index, seed) for index in range(n_models)]
    return write_listings(folder, specs, [photos_per_model] * n_models, seed, mask_folder)


def write_listings(folder, specs, photo_counts, seed, mask_folder=None, background=None):
    """Photograph each model of `specs` `photo_counts[i]` times into `folder`; return the paths (sorted).

    `background(rng, height, width)` paints each photo's float RGB background (default: the
    demo's mix of studio and cluttered backgrounds); masks as in `make_demo`.
    """
    if len(photo_counts) != len(specs):
        raise ValueError(f"photo_counts names {len(photo_counts)} models but there are {len(specs)} specs")
    for count in photo_counts:
        _require_count("photos per model", count)
    folder = Path(folder)
    paths = []
    for model_index, (spec, listings) in enumerate(zip(specs, _listings(specs, photo_counts, seed))):
        arts = [_draw_model(spec, palette) for palette in spec.colourways]
        for photo_index, (stem, colourway) in enumerate(listings):
            rng = np.random.default_rng([seed, 1, model_index, photo_index])
            photo, mask, quality = _photograph(arts[colourway], rng, background or _background)
            path = folder / f"{stem}.jpg"
            save_image(path, photo, quality=quality)
            if mask_folder is not None:
                _save_mask(Path(mask_folder) / f"{stem}.png", mask)
            paths.append(path)
    return sorted(paths)


def ensure_demo(folder, **kwargs):
    """Make the demo set in `folder` unless it already holds photos; return the photo paths.

    An existing set is left as it is (masks included or not), whatever `kwargs` say.
    """
    existing = _photos_in(Path(folder))
    if existing:
        return existing
    log.info("demo: drawing %s models x %s photos into %s", kwargs.get("n_models", DEMO_MODELS),
             kwargs.get("photos_per_model", DEMO_PHOTOS_PER_MODEL), folder)
    return make_demo(folder, **kwargs)


def model_spec(index, seed=DEMO_SEED):
    """The shape, pattern, proportions and colours of model number `index` (0-based)."""
    _require_count("index", index, minimum=0)
    order = np.random.default_rng([seed, 0])
    shapes = order.permutation(SHAPES)
    patterns = order.permutation(PATTERNS)
    # Models sharing a shape get different styles (up to 27 models) and patterns (up to 81 models).
    shape = str(shapes[index % len(SHAPES)])
    pattern = str(patterns[(index + index // len(SHAPES)) % len(PATTERNS)])
    rng = np.random.default_rng([seed, 2, index])
    hue = (index % len(SHAPES)) / len(SHAPES) + (index // len(SHAPES)) * 0.37 + order.random()
    palette = _palette(hue % 1.0, rng)
    colourways = (palette,)
    if rng.random() < SECOND_COLOURWAY_SHARE:
        colourways += (_recoloured(palette, rng),)
    style = (index // len(SHAPES)) % STYLES
    return ModelSpec(f"M{index + 1:03d}", shape, pattern, style, tuple(rng.uniform(-1, 1, 4)), colourways)


def _require_count(name, value, minimum=1):
    check_whole(value, name, minimum)


def _photos_in(folder):
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir()
                  if path.is_file() and path.suffix.lower() in DEFAULTS.img_ext)


def _save_mask(path, mask):
    ok, encoded = cv2.imencode(".png", mask)
    if not ok:
        raise ValueError(f"{path}: OpenCV could not encode the mask")
    with atomic_path(path) as tmp:
        tmp.write_bytes(encoded.tobytes())


# ----- names: models, sellers' listings, photos -----

def _listings(specs, photo_counts, seed):
    """Per model, one (file stem, colourway index) per photo, grouped by product id."""
    rng = np.random.default_rng([seed, 3])
    low, high = PRODUCTS_PER_MODEL_RANGE
    counts = [min(int(rng.integers(low, high + 1)), photos) for photos in photo_counts]
    product_ids = _unique_ids(sum(counts), rng)
    result, next_id = [], 0
    for spec, n_products, photos in zip(specs, counts, photo_counts):
        owner = np.sort(np.concatenate([np.arange(n_products), rng.integers(0, n_products, photos - n_products)]))
        colourway = rng.integers(0, len(spec.colourways), n_products)
        photos, taken = [], [0] * n_products
        for product in owner:
            taken[product] += 1
            stem = f"{spec.model_id}_P{product_ids[next_id + product]}_I{taken[product]:02d}"
            photos.append((stem, int(colourway[product])))
        result.append(photos)
        next_id += n_products
    return result


def _unique_ids(count, rng):
    digits = max(4, len(str(count * 10)))
    low = 10 ** (digits - 1)
    return [str(low + int(n)) for n in rng.choice(10 ** digits - low, size=count, replace=False)]


# ----- colours -----

def _hsv(hue, saturation, value):
    return tuple(round(255 * c) for c in colorsys.hsv_to_rgb(hue % 1.0, saturation, value))


def _palette(hue, rng):
    value = rng.uniform(0.45, 0.95)
    contrast = 0.25 if value > 0.65 else 0.95  # pattern ink stands out from the body
    accent = NEUTRALS[rng.integers(len(NEUTRALS))] if rng.random() < 0.3 else _hsv(hue + 0.33, 0.7, 0.8)
    return {
        "body": _hsv(hue, rng.uniform(0.55, 0.95), value),
        "ink": _hsv(hue + rng.uniform(0.4, 0.6), rng.uniform(0.3, 0.8), contrast),
        "trim": NEUTRALS[rng.integers(len(NEUTRALS))],
        "accent": accent,
        "metal": METALS[rng.integers(len(METALS))],
    }


def _recoloured(palette, rng):
    red, green, blue = (c / 255 for c in palette["body"])
    hue, saturation, value = colorsys.rgb_to_hsv(red, green, blue)
    shift = rng.uniform(0.07, 0.14) * rng.choice((-1, 1))
    value = float(np.clip(value + rng.uniform(-0.15, 0.15), 0.35, 1))
    return {**palette, "body": _hsv(hue + shift, saturation, value)}


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


def _colour(rgb):
    return np.array(rgb, np.float32)


def _body_fill(spec, palette):
    fill = np.full((CANVAS, CANVAS, 3), _colour(palette["body"]), np.float32)
    for role, coverage in _pattern_layers(spec.pattern, spec.knobs, spec.style):
        fill += coverage[..., None] * (_colour(palette[role]) - fill)
    return fill


def _draw_model(spec, palette):
    sketch = _Sketch()
    _SHAPE_DRAWERS[spec.shape](sketch, spec.knobs, spec.style)
    body = _body_fill(spec, palette)
    rgb = np.zeros((CANVAS, CANVAS, 3), np.float32)
    alpha = np.zeros((CANVAS, CANVAS), np.float32)
    kernel = np.ones((3, 3), np.uint8)
    for role, mask in sketch.parts:
        cover = mask.astype(np.float32) / 255
        fill = body if role == "body" else _colour(palette[role])
        rgb += cover[..., None] * (fill - rgb)
        seam = cover - cv2.erode(cover, kernel)  # a dark seam keeps parts apart
        rgb *= 1 - 0.45 * seam[..., None]
        alpha = np.maximum(alpha, cover)
    light = np.linspace(1.12, 0.82, CANVAS, dtype=np.float32)[:, None, None]  # lit from above
    rgb = np.clip(rgb * light, 0, 255)
    ys, xs = np.nonzero(alpha > 0)
    return _Art(rgb, alpha, (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))


# ----- photographing a model -----

def _photograph(art, rng, background_painter):
    """One seller's photo of `art`: (RGB uint8, mask uint8 0/255, JPEG quality)."""
    low, high = PHOTO_SIDE_RANGE
    width, height = (int(side) for side in rng.integers(low, high + 1, 2))
    matrix = _placement(art.box, width, height, rng)
    size = (width, height)
    subject = cv2.warpPerspective(art.rgb, matrix, size, flags=cv2.INTER_LINEAR, borderValue=0)
    alpha = cv2.warpPerspective(art.alpha, matrix, size, flags=cv2.INTER_LINEAR, borderValue=0)
    background = background_painter(rng, height, width)
    if rng.random() < 0.5:
        background = _cast_shadow(background, alpha, rng)
    photo = background * (1 - alpha[..., None]) + subject
    photo = _relight(photo, rng)
    photo = _overlay(np.clip(photo, 0, 255).astype(np.uint8), rng)
    mask = np.where(alpha >= 0.5, 255, 0).astype(np.uint8)
    quality = int(rng.integers(JPEG_QUALITY_RANGE[0], JPEG_QUALITY_RANGE[1] + 1))
    return photo, mask, quality


def _placement(box, width, height, rng):
    """Perspective matrix taking the object's box on the canvas to a random place in the photo."""
    x0, y0, x1, y1 = box
    source = np.float32([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    centred = source - source.mean(axis=0)
    scale = rng.uniform(0.65, 0.92) * min(width, height) / max(x1 - x0, y1 - y0)
    turn = np.radians(rng.uniform(-12, 12))
    mirror = -1 if rng.random() < 0.25 else 1
    linear = scale * np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]]) @ np.diag([mirror, 1])
    corners = centred @ linear.T + rng.uniform(-0.06, 0.06, (4, 2)) * min(width, height)
    corners += [_offset(corners[:, 0], width, rng), _offset(corners[:, 1], height, rng)]
    return cv2.getPerspectiveTransform(source, corners.astype(np.float32))


def _offset(coordinates, limit, rng, margin=4):
    low, high = margin - coordinates.min(), limit - margin - coordinates.max()
    return rng.uniform(low, high) if high > low else (low + high) / 2


def _background(rng, height, width):
    kind = BACKGROUNDS[rng.choice(len(BACKGROUNDS), p=BACKGROUND_WEIGHTS)]
    return _BACKGROUND_PAINTERS[kind](rng, height, width)


def _light_colour(rng, darkest=0.78):
    return _colour(_hsv(rng.random(), rng.uniform(0, 0.15), rng.uniform(darkest, 1.0)))


def _plain(rng, height, width):
    return np.full((height, width, 3), _light_colour(rng), np.float32)


def _gradient(rng, height, width):
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = x * np.cos(angle) + y * np.sin(angle)
    ramp = ((ramp - ramp.min()) / (np.ptp(ramp) + 1e-6))[..., None]
    first, second = _light_colour(rng, 0.6), _light_colour(rng, 0.6)
    return first + ramp * (second - first)


def _shelf(rng, height, width):
    wood = _colour(_hsv(rng.uniform(0.05, 0.12), rng.uniform(0.3, 0.6), rng.uniform(0.55, 0.85)))
    image = np.empty((height, width, 3), np.float32)
    row = 0
    while row < height:
        board = int(rng.integers(30, 90))
        image[row:row + board] = wood * rng.uniform(0.85, 1.1)
        image[row:row + 3] = wood * 0.55  # shelf edge
        row += board
    grain = cv2.resize(rng.uniform(-12, 12, (height, max(2, width // 24))).astype(np.float32), (width, height))
    return image + grain[..., None]


def _blobs(rng, height, width):
    image = _plain(rng, height, width)
    for _ in range(int(rng.integers(4, 11))):
        center = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        axes = (int(rng.integers(10, width // 3)), int(rng.integers(10, height // 3)))
        colour = _hsv(rng.random(), rng.uniform(0.05, 0.35), rng.uniform(0.65, 0.97))
        cv2.ellipse(image, center, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1, cv2.LINE_AA)
    return cv2.GaussianBlur(image, (0, 0), 2.0)


def _texture(rng, height, width):
    cells = int(rng.integers(6, 20))
    noise = rng.uniform(-1, 1, (cells, cells)).astype(np.float32)
    smooth = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)[..., None]
    fine = rng.uniform(-1, 1, (height, width, 3)).astype(np.float32)
    return _light_colour(rng, 0.6) + 30 * smooth + 6 * fine


_BACKGROUND_PAINTERS = {"plain": _plain, "gradient": _gradient, "shelf": _shelf, "blobs": _blobs,
                        "texture": _texture}


def _cast_shadow(background, alpha, rng):
    shift = np.float32([[1, 0, rng.uniform(2, 10)], [0, 1, rng.uniform(3, 12)]])
    moved = cv2.warpAffine(alpha, shift, (alpha.shape[1], alpha.shape[0]))
    shadow = cv2.GaussianBlur(moved, (0, 0), rng.uniform(4, 9))
    return background * (1 - rng.uniform(0.2, 0.4) * shadow[..., None])


def _relight(photo, rng):
    """Sellers' cameras differ in exposure and white balance."""
    gain = rng.uniform(0.88, 1.1) * rng.uniform(0.95, 1.05, 3).astype(np.float32)
    return photo * gain


def _overlay(photo, rng):
    if rng.random() < 0.3:
        photo = _stamp_text(photo, str(rng.choice(OVERLAY_WORDS)), rng)
    if rng.random() < 0.15:
        photo = _stamp_logo(photo, rng)
    return photo


def _corner(size, width, height, rng, margin=6):
    right, bottom = rng.integers(0, 2, 2)
    x = width - size[0] - margin if right else margin
    y = height - margin if bottom else size[1] + margin
    return int(x), int(y)


def _stamp_text(photo, word, rng):
    font, scale = FONTS[rng.integers(len(FONTS))], rng.uniform(0.5, 1.0)
    thickness = int(rng.integers(1, 3))
    (text_w, text_h), _ = cv2.getTextSize(word, font, scale, thickness)
    origin = _corner((text_w, text_h), photo.shape[1], photo.shape[0], rng)
    colour = TEXT_COLOURS[rng.integers(len(TEXT_COLOURS))]
    return cv2.putText(photo, word, origin, font, scale, colour, thickness, cv2.LINE_AA)


def _stamp_logo(photo, rng):
    radius = int(rng.integers(10, 18))
    x, y = _corner((2 * radius, 2 * radius), photo.shape[1], photo.shape[0], rng)
    center = (x + radius, y - radius)
    colour = _hsv(rng.random(), 0.8, 0.7)
    cv2.circle(photo, center, radius, colour, -1, cv2.LINE_AA)
    letter = chr(ord("A") + int(rng.integers(26)))
    cv2.putText(photo, letter, (center[0] - radius // 2, center[1] + radius // 2), cv2.FONT_HERSHEY_SIMPLEX,
                radius / 20, (255, 255, 255), 2, cv2.LINE_AA)
    return photo
