"""A small, deterministic product-photo data set for trying the pipeline without real data.

Each "model" is a product-like object (shoe, boot, bag, ...) drawn with OpenCV from a body
shape, a surface pattern and a colour scheme; models differ in shape and pattern, so a
clustering stage has a true answer to recover. Each photo is one seller's picture of a
model: its own size, scale, position, tilt, perspective, lighting, background, optional
text or logo and JPEG quality. File names follow the real scheme MODELID_PRODUCTID_IMAGEID
(e.g. M003_P4821_I02.jpg), where several product ids (sellers' listings) share one model.
The same seed always gives byte-identical files.
"""
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from prodcluster.demo_art import PATTERNS, SHAPES, STYLES, draw_model, float_colour, hsv, random_palette, recoloured
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

BACKGROUNDS = ("plain", "gradient", "shelf", "blobs", "texture")
BACKGROUND_WEIGHTS = (0.45, 0.25, 0.1, 0.1, 0.1)  # sellers mostly shoot on plain white
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


def write_listings(folder, specs, photo_counts, seed, mask_folder=None, background=None, photographer=None):
    """Photograph each model of `specs` `photo_counts[i]` times into `folder`; return the paths (sorted).

    `background(rng, height, width)` paints each photo's float RGB background (default: the
    demo's mix of studio and cluttered backgrounds); masks as in `make_demo`.
    `photographer(spec, colourway, rng, background)` takes one photo of a model in one of its
    colourways: (RGB uint8, mask uint8 0/255, JPEG quality). The default warps the model's
    flat drawing as a seller's photo.
    """
    if len(photo_counts) != len(specs):
        raise ValueError(f"photo_counts names {len(photo_counts)} models but there are {len(specs)} specs")
    for count in photo_counts:
        _require_count("photos per model", count)
    folder = Path(folder)
    photographer = photographer or _Drawings()
    paths = []
    for model_index, (spec, listings) in enumerate(zip(specs, _listings(specs, photo_counts, seed))):
        for photo_index, (stem, colourway) in enumerate(listings):
            rng = np.random.default_rng([seed, 1, model_index, photo_index])
            photo, mask, quality = photographer(spec, colourway, rng, background or _background)
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
    palette = random_palette(hue % 1.0, rng)
    colourways = (palette,)
    if rng.random() < SECOND_COLOURWAY_SHARE:
        colourways += (recoloured(palette, rng),)
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


# ----- photographing a model -----

class _Drawings:
    """The default photographer: each model drawn flat once per colourway, then warped as a seller's photo."""

    def __init__(self):
        self.model, self.arts = None, {}

    def __call__(self, spec, colourway, rng, background):
        if self.model != spec.model_id:
            self.model, self.arts = spec.model_id, {}
        if colourway not in self.arts:
            self.arts[colourway] = draw_model(spec, spec.colourways[colourway])
        return _photograph(self.arts[colourway], rng, background)


def _photograph(art, rng, background_painter):
    """One seller's photo of `art`: (RGB uint8, mask uint8 0/255, JPEG quality)."""
    low, high = PHOTO_SIDE_RANGE
    width, height = (int(side) for side in rng.integers(low, high + 1, 2))
    matrix = _placement(art.box, width, height, rng)
    size = (width, height)
    subject = cv2.warpPerspective(art.rgb, matrix, size, flags=cv2.INTER_LINEAR, borderValue=0)
    alpha = cv2.warpPerspective(art.alpha, matrix, size, flags=cv2.INTER_LINEAR, borderValue=0)
    return seller_photo(subject, alpha, background_painter(rng, height, width), rng)


def seller_photo(subject, alpha, background, rng):
    """A seller's photo of a premultiplied float RGB `subject` with coverage `alpha` (0-1) on
    `background`: a soft cast shadow half the time, the camera's exposure and white balance,
    maybe a sale text or logo, a JPEG quality. Returns (RGB uint8, mask uint8 0/255, quality)."""
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
    return float_colour(hsv(rng.random(), rng.uniform(0, 0.15), rng.uniform(darkest, 1.0)))


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
    wood = float_colour(hsv(rng.uniform(0.05, 0.12), rng.uniform(0.3, 0.6), rng.uniform(0.55, 0.85)))
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
        colour = hsv(rng.random(), rng.uniform(0.05, 0.35), rng.uniform(0.65, 0.97))
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
    colour = hsv(rng.random(), 0.8, 0.7)
    cv2.circle(photo, center, radius, colour, -1, cv2.LINE_AA)
    letter = chr(ord("A") + int(rng.integers(26)))
    cv2.putText(photo, letter, (center[0] - radius // 2, center[1] + radius // 2), cv2.FONT_HERSHEY_SIMPLEX,
                radius / 20, (255, 255, 255), 2, cv2.LINE_AA)
    return photo
