"""Stage 01: paint the background of product photos white, so later features stay on the product.

- `auto` (default): surveys the backgrounds, then applies `grabcut` or `none` to every photo.
- `grabcut`: a photo on a plain near-white background is left untouched. A studio photo (a
  light background of any tint or a gradient, which a smooth colour surface fitted to the
  outer strip explains) loses the background colour connected to its edge, so tinted and
  white photos of one model end up alike and thin handles stay whole. Other photos go to
  OpenCV GrabCut at most 160 pixels a side: the outer strip is surely background, 32 k-means
  colours of it model the background, and pixels far from all of them seed the product (on
  smooth strips the filled outer contours of `sobel_contour` too). Specks are opened away,
  small parts dropped, small holes filled; an almost empty or full mask keeps the photo.
- `grabcut_cluttered`: `grabcut` on the photos whose background is cluttered only; white and
  studio photos are kept as they are, so a mixed set's cluttered photos end up on white like
  its studio ones.
- `sobel_contour`: the 2019 project's method: outer contours of strong colour edges that
  enclose over 5% of the photo are the product; everything outside them turns white.
- `none` keeps photos as they are.

Every function here works on one photo in memory; preprocess.py runs them over a folder.
"""
from collections import Counter
from typing import NamedTuple

import cv2
import numpy as np
from skimage.morphology import remove_small_holes

from .settings import DEFAULTS, PREPROCESS_METHODS

METHODS = PREPROCESS_METHODS
DEFAULT_METHOD = DEFAULTS.preprocess
WHITE_KIND, STUDIO_KIND, CLUTTERED_KIND = BACKGROUND_KINDS = ("white", "studio", "cluttered")
REMOVED, PLAIN, IMPLAUSIBLE, UNCHANGED = OUTCOMES = ("removed", "plain", "implausible", "unchanged")
WHITE = 255

# sobel_contour, as in 2019
MEDIAN_KERNEL = 5
MIN_CONTOUR_FRACTION = 0.05

# grabcut
WORK_SIDE = 160  # longer side GrabCut works at; masks are scaled back to the photo
STRIP_SHARE = 0.015  # the outer strip that is surely background, as a share of the longer side
MIN_STRIP = 2  # pixels
BORDER_COLOURS = 32  # k-means colours of the strip: the background colour model
SEED_BLUR = 1.0  # sigma of the blur on the colour distance, so one odd pixel seeds nothing
SURE_BACKGROUND = 0.5  # colour distance below this share of the seed threshold: surely background
EDGE_BAND_SHARE = 0.06  # band along the photo edge where edges are counted
SMOOTH_BAND_EDGES = 0.12  # below this share of edge pixels in the band, contour seeds are trusted
GRABCUT_ROUNDS = 2  # few rounds: the colour models drift from a good seed with more
GRABCUT_ROUNDS_WITH_CONTOURS = 4
KEEP_PART_SHARE = 0.25  # parts smaller than this share of the largest part are dropped
MAX_HOLE_SHARE = 0.01  # enclosed background up to this share of the photo is filled
OPENING_KERNEL = 3
RNG_SEED = 0  # OpenCV's k-means and GrabCut draw from its thread-local generator

# studio backgrounds (grabcut only)
STUDIO_MEDIAN = 3  # median filter that hides JPEG noise before colours are compared, keeping edges sharp
STUDIO_TOLERANCE = 10.0  # Lab distance (OpenCV's 8-bit scale) from the background surface still background
STUDIO_MIN_GAP = 0.002  # enclosed background-coloured areas from this share of the photo up are gaps
STUDIO_SHARE = 0.9  # share of the outer strip the surface must explain for the photo to count as studio
STUDIO_SHADING = 0.05  # blur (share of the shorter side) giving the background's local colour

# plain backgrounds and implausible masks (grabcut only)
PLAIN_LIGHTNESS = 230  # every channel of the strip's median colour at least this bright
PLAIN_TOLERANCE = 12  # channel difference from that colour still counted as background
PLAIN_SHARE = 0.5  # share of strip pixels within the tolerance (the product may touch the edge)
MIN_FOREGROUND = 0.02  # masks outside these shares of the photo are implausible
MAX_FOREGROUND = 0.9

# auto: one method for the whole data set, from a survey of its backgrounds
CLUTTERED_SET_SHARE = 0.5  # from this share of cluttered backgrounds up, auto removes backgrounds (grabcut)


class Removal(NamedTuple):
    """One photo's result: white-background RGB, foreground mask (bool) and what was done."""

    rgb: np.ndarray
    mask: np.ndarray
    outcome: str


def remove_background(rgb, method=DEFAULT_METHOD):
    """Return a `Removal` for an RGB uint8 photo (H x W x 3); the input is not modified.

    `mask` is True on the foreground and every pixel outside it is white in `rgb` (up to
    PLAIN_TOLERANCE for a plain photo, which is returned as it was). Outcomes: `removed`
    (background painted white), `plain` (grabcut: the background was plain and near white
    already; the mask marks the pixels that differ from it), `implausible` (the mask was
    almost empty or almost the whole photo, or sobel_contour found no large contour: the
    photo is kept with an all-foreground mask), `unchanged` (method `none`). A single photo has
    no data set to survey, so `auto` removes as `grabcut` does.
    """
    check_method(method)
    _check_rgb(rgb)
    if method == "none" or (method == "grabcut_cluttered" and background_kind(rgb) != CLUTTERED_KIND):
        return Removal(rgb.copy(), _whole(rgb), UNCHANGED)
    if method == "sobel_contour":
        return _painted(rgb, sobel_contour_mask(rgb))
    plain_colour = plain_background_colour(rgb)
    if plain_colour is not None:
        return Removal(rgb.copy(), _plain_mask(rgb, plain_colour), PLAIN)
    mask = studio_mask(rgb)
    if mask is None:
        mask = _at_work_size(rgb, grabcut_mask)
    if not MIN_FOREGROUND <= mask.mean() <= MAX_FOREGROUND:
        return Removal(rgb.copy(), _whole(rgb), IMPLAUSIBLE)
    return _painted(rgb, mask)


def _painted(rgb, mask):
    if mask.all():
        return Removal(rgb.copy(), mask, IMPLAUSIBLE)
    out = rgb.copy()
    out[~mask] = WHITE
    return Removal(out, mask, REMOVED)


def _whole(rgb):
    return np.ones(rgb.shape[:2], dtype=bool)


def background_kind(rgb):
    """What a photo's background looks like: "white" (plain, near white), "studio" (plain of
    another light tint, or a smooth gradient) or "cluttered"."""
    _check_rgb(rgb)
    if plain_background_colour(rgb) is not None:
        return WHITE_KIND
    small = _shrunk(rgb)
    studio = _studio_background(_studio_lab(small), _strip(small.shape[:2])) is not None
    return STUDIO_KIND if studio else CLUTTERED_KIND


def auto_method(kinds):
    """The method `auto` applies to a data set whose photos' background kinds are `kinds`.

    Removal is applied where it makes a model's photos look alike: where most backgrounds are
    cluttered. Elsewhere the cut-outs of the few cluttered photos would differ from their studio
    siblings, and whitening tinted studio backgrounds gained on one studio set and lost on
    another, so every photo is kept as it is.
    """
    counts = Counter(kinds)
    total = sum(counts.values())
    if not total:
        return "none"
    cluttered = counts[CLUTTERED_KIND] / total
    return "grabcut" if cluttered >= CLUTTERED_SET_SHARE else "none"


def method_settings(method):
    """The settings a method's results depend on (recorded so that changing them redoes the work)."""
    check_method(method)
    if method == "none":
        return {}
    names = ["MEDIAN_KERNEL", "MIN_CONTOUR_FRACTION"]
    if method in ("grabcut", "grabcut_cluttered"):
        names += ["STUDIO_MEDIAN", "STUDIO_TOLERANCE", "STUDIO_MIN_GAP", "STUDIO_SHARE", "STUDIO_SHADING",
                  "WORK_SIDE", "STRIP_SHARE", "MIN_STRIP", "BORDER_COLOURS", "SEED_BLUR", "SURE_BACKGROUND",
                  "EDGE_BAND_SHARE", "SMOOTH_BAND_EDGES", "GRABCUT_ROUNDS", "GRABCUT_ROUNDS_WITH_CONTOURS",
                  "KEEP_PART_SHARE", "MAX_HOLE_SHARE", "OPENING_KERNEL", "RNG_SEED", "PLAIN_LIGHTNESS",
                  "PLAIN_TOLERANCE", "PLAIN_SHARE", "MIN_FOREGROUND", "MAX_FOREGROUND"]
    return {name: globals()[name] for name in names}


# ----- sobel_contour (2019) -----

def sobel_contour_mask(rgb):
    """Foreground mask: filled outer contours of the edge image larger than 5% of the photo."""
    edges = edge_image(rgb)
    contours, _ = cv2.findContours(edges, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    min_area = MIN_CONTOUR_FRACTION * edges.size
    large = [contour for contour in contours if cv2.contourArea(contour) > min_area]
    if not large:
        return np.ones(edges.shape, dtype=bool)
    filled = np.zeros(edges.shape, dtype=np.uint8)
    cv2.drawContours(filled, large, -1, 255, thickness=cv2.FILLED)
    return filled > 0


def edge_image(rgb):
    """8-bit edges: per-channel Sobel magnitude clipped to 255, max over channels, weak ones zeroed."""
    blurred = cv2.medianBlur(np.ascontiguousarray(rgb), MEDIAN_KERNEL)
    grad_x = cv2.Sobel(blurred, cv2.CV_32F, 1, 0)
    grad_y = cv2.Sobel(blurred, cv2.CV_32F, 0, 1)
    magnitude = np.minimum(cv2.magnitude(grad_x, grad_y), 255).max(axis=2)
    magnitude[magnitude < magnitude.mean()] = 0
    return magnitude.astype(np.uint8)


# ----- plain backgrounds -----

def plain_background_colour(rgb):
    """The background colour (uint8 RGB) if the photo's outer strip is plain and near white, else None."""
    strip = rgb[_strip(rgb.shape[:2])]
    colour = np.median(strip, axis=0)
    near = np.abs(strip.astype(np.int16) - colour).max(axis=1) <= PLAIN_TOLERANCE
    if colour.min() >= PLAIN_LIGHTNESS and near.mean() >= PLAIN_SHARE:
        return colour.astype(np.uint8)
    return None


def _plain_mask(rgb, colour):
    differs = np.abs(rgb.astype(np.int16) - colour).max(axis=2) > PLAIN_TOLERANCE
    return _clean(differs)


def _at_work_size(rgb, mask_of):
    """Run `mask_of` on the photo shrunk to WORK_SIDE and scale its mask back."""
    small = _shrunk(rgb)
    mask = mask_of(small)
    if small.shape == rgb.shape:
        return mask
    return cv2.resize(mask.astype(np.float32), rgb.shape[1::-1], interpolation=cv2.INTER_LINEAR) >= 0.5


def _shrunk(rgb):
    height, width = rgb.shape[:2]
    scale = min(1.0, WORK_SIDE / max(height, width))
    if scale == 1.0:
        return rgb
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


# ----- studio backgrounds -----

def studio_mask(rgb):
    """Foreground mask of a photo on a smooth studio background of any light tint or gradient, else None.

    A quadratic colour surface fitted to the outer strip stands for the background. When it
    explains at least STUDIO_SHARE of the strip, the background is every pixel within
    STUDIO_TOLERANCE of it that is connected to the strip; the rest is the product, so thin
    handles and straps of another colour stay whole, and so do shadows; enclosed gaps of the
    background's colour (inside a handle) larger than STUDIO_MIN_GAP of the photo are background.
    """
    lab = _studio_lab(rgb)
    strip = _strip(rgb.shape[:2])
    near = _studio_background(lab, strip)
    if near is None:
        return None
    near = _distance_to_shading(lab, near) < STUDIO_TOLERANCE
    _, parts, stats, _ = cv2.connectedComponentsWithStats(near.astype(np.uint8), connectivity=8)
    touching = np.unique(parts[strip & near])
    gaps = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] >= STUDIO_MIN_GAP * near.size)
    background = np.isin(parts, np.union1d(touching, gaps)) & near
    return _clean(~background)


def _studio_lab(rgb):
    return cv2.cvtColor(cv2.medianBlur(np.ascontiguousarray(rgb), STUDIO_MEDIAN), cv2.COLOR_RGB2LAB).astype(np.float32)


def _studio_background(lab, strip):
    """Pixels near the quadratic surface fitted to the strip, or None when it explains too little of the strip."""
    near = _distance_to_surface(lab, strip) < STUDIO_TOLERANCE
    return near if near[strip].mean() >= STUDIO_SHARE else None


def _distance_to_surface(lab, strip):
    """Lab distance of every pixel to a quadratic surface fitted to the strip (refitted on its inliers)."""
    height, width = lab.shape[:2]
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    x, y = 2 * x / max(width - 1, 1) - 1, 2 * y / max(height - 1, 1) - 1
    terms = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1)
    inliers = strip
    for _ in range(2):
        coefficients, *_ = np.linalg.lstsq(terms[inliers], lab[inliers], rcond=None)
        distance = np.linalg.norm(lab - terms @ coefficients, axis=2)
        inliers = strip & (distance < 3 * STUDIO_TOLERANCE)
        if inliers.sum() < terms.shape[-1]:
            break
    return distance


def _distance_to_shading(lab, near):
    """Lab distance to the background's local colour: a wide blur of the pixels taken for background
    so far, which follows soft shading and blotches that the quadratic surface cannot."""
    sigma = STUDIO_SHADING * min(lab.shape[:2])
    weight = cv2.GaussianBlur(near.astype(np.float32), (0, 0), sigma)
    local = cv2.GaussianBlur(lab * near[..., None], (0, 0), sigma) / np.maximum(weight, 1e-3)[..., None]
    return np.where(weight > 0.05, np.linalg.norm(lab - local, axis=2), np.inf)


# ----- grabcut -----

def grabcut_mask(small):
    """Foreground mask from GrabCut seeded by colours unlike the photo's outer strip (and, on
    smooth backgrounds, by the filled outer contours)."""
    trimap, rounds = _trimap(small)
    return _clean(_grabcut(small, trimap, rounds))


def _trimap(small):
    """GrabCut's starting labels and how many rounds to run."""
    strip = _strip(small.shape[:2])
    distance = _distance_to_strip_colours(small, strip)
    threshold = _otsu(distance)
    trimap = np.where(distance > threshold, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    trimap[distance < SURE_BACKGROUND * threshold] = cv2.GC_BGD
    rounds = GRABCUT_ROUNDS
    if _band_is_smooth(small):
        contours = sobel_contour_mask(small)
        if not contours.all():
            trimap[contours] = cv2.GC_PR_FGD
            rounds = GRABCUT_ROUNDS_WITH_CONTOURS
    trimap[strip] = cv2.GC_BGD
    return trimap, rounds


def _strip(shape):
    """The outer strip of a photo of `shape`, as a bool mask."""
    width = max(MIN_STRIP, round(STRIP_SHARE * max(shape)))
    return _band(shape, width)


def _band(shape, width):
    band = np.ones(shape, dtype=bool)
    band[width:shape[0] - width, width:shape[1] - width] = False
    return band


def _distance_to_strip_colours(small, strip):
    """Blurred Lab distance of every pixel to the nearest of the strip's k-means colours."""
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
    samples = lab[strip]
    clusters = min(BORDER_COLOURS, len(samples))
    cv2.setRNGSeed(RNG_SEED)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    _, _, centres = cv2.kmeans(samples, clusters, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    distance = np.full(lab.shape[:2], np.inf, dtype=np.float32)
    for centre in centres:
        np.minimum(distance, np.linalg.norm(lab - centre, axis=2), out=distance)
    return cv2.GaussianBlur(distance, (0, 0), SEED_BLUR)


def _otsu(distance):
    threshold, _ = cv2.threshold(np.clip(distance, 0, 255).astype(np.uint8), 0, 255,
                                 cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return threshold


def _band_is_smooth(small):
    band = _band(small.shape[:2], max(3, round(EDGE_BAND_SHARE * min(small.shape[:2]))))
    return (edge_image(small)[band] > 0).mean() < SMOOTH_BAND_EDGES


def _grabcut(small, trimap, rounds):
    foreground = (trimap == cv2.GC_FGD) | (trimap == cv2.GC_PR_FGD)
    if foreground.all() or not foreground.any():
        return foreground  # GrabCut needs both sides to learn from
    labels = trimap.copy()
    cv2.setRNGSeed(RNG_SEED)
    background_model, foreground_model = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.grabCut(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), labels, None, background_model, foreground_model,
                rounds, cv2.GC_INIT_WITH_MASK)
    return (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)


def _clean(mask):
    """Open away specks, drop parts much smaller than the largest, fill small holes."""
    opened = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN,
                              np.ones((OPENING_KERNEL, OPENING_KERNEL), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    if count <= 1:
        return opened > 0
    areas = stats[1:, cv2.CC_STAT_AREA]
    kept = np.isin(labels, 1 + np.flatnonzero(areas >= KEEP_PART_SHARE * areas.max()))
    return remove_small_holes(kept, max_size=int(MAX_HOLE_SHARE * kept.size))


def check_method(method):
    if method not in METHODS:
        raise ValueError(f"unknown background removal method {method!r}; choose one of {', '.join(METHODS)}")


def _check_rgb(rgb):
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        described = f"{rgb.dtype} array of shape {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise ValueError(f"expected an RGB uint8 image of shape (H, W, 3), got a {described}")
