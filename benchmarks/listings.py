"""Seller-style listing sets with true masks, for the protocol suite (benchmarks/suite.py).

Each set photographs product models drawn by the demo generator (prodcluster/demo.py), with
what real listings vary and the demo does not:

- `studio`: light studio backgrounds in many tints (white, grey, beige, pastel, gradients
  between two of them), each photo's drawn apart, so one model's photos mix pure white with
  tinted backgrounds as different sellers' do; soft cast shadows in half the photos;
- `long_tail`: how many photos a model has follows a long-tailed law (2 to 100, most models
  small), on the demo's mix of studio and cluttered backgrounds;
- `thin_parts`: only bags, whose handles and straps are a few pixels wide, on studio and
  cluttered backgrounds.

Every set writes `data/<set>/true_masks/<stem>.png` (0/255) beside `raw_img/<set>/`, and a
known set of other models (another seed) for fine-tuning. `thin_part_mask` marks the
pixels of a mask that belong to parts thinner than a few pixels, where removal is scored
apart.
"""
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from benchmarks.scenes import true_mask_folder
from prodcluster import demo, demo_art

BAG_SHAPES = ("handbag", "backpack", "tote", "clutch", "duffel")
# Kinds of studio background and their shares: a third pure white, the rest tinted.
STUDIO_KINDS = ("white", "grey", "beige", "pastel", "gradient")
STUDIO_WEIGHTS = (0.35, 0.15, 0.15, 0.15, 0.20)
THIN_KERNEL_SHARE = 0.035  # parts narrower than this share of the photo's shorter side are thin
MIN_THIN_PART = 12  # pixels: smaller pieces of what the opening removes are corners, not parts
MIN_THIN_PIXELS = 20  # photos with fewer thin-part pixels are not scored on them


@dataclass(frozen=True)
class ListingSpec:
    """How one set is drawn: its models, how many photos each, and the backgrounds."""

    kind: str  # "studio", "long_tail" or "thin_parts"
    n_models: int
    seed: int
    min_photos: int
    max_photos: int

    def photo_counts(self):
        """Photos per model: log-normal for `studio`, Pareto (most models small) otherwise."""
        if self.kind == "long_tail":
            return long_tailed_counts(self.n_models, self.seed, self.min_photos, self.max_photos)
        raw = np.random.default_rng([self.seed, 7]).lognormal(np.log(12), 0.8, self.n_models)
        return [int(count) for count in np.clip(np.round(raw), self.min_photos, self.max_photos)]

    def specs(self):
        """The models: the first `n_models` of the demo's numbering under `seed` (bags only for thin parts)."""
        specs, index = [], 0
        while len(specs) < self.n_models:
            spec = demo.model_spec(index, self.seed)
            if self.kind != "thin_parts" or spec.shape in BAG_SHAPES:
                specs.append(spec)
            index += 1
        return specs

    def background(self):
        return None if self.kind in ("long_tail", "thin_parts") else studio_background

    def photographer(self):
        return None  # the demo's flat drawings


def long_tailed_counts(n_models, seed, min_photos, max_photos):
    """Photos per model from a Pareto law (most models small), clipped to [min_photos, max_photos]."""
    raw = min_photos * (1 + np.random.default_rng([seed, 7]).pareto(1.1, n_models))
    return [int(count) for count in np.clip(np.round(raw), min_photos, max_photos)]


def write_listing_set(root, set_name, spec, overwrite=False):
    """Write the photos of `spec` into raw_img/<set_name> and its true masks; return the photo count.

    A set already written (same number of photos and masks) is left alone unless `overwrite`.
    """
    photo_dir = Path(root) / "raw_img" / set_name
    mask_dir = true_mask_folder(root, set_name)
    expected = sum(spec.photo_counts())
    if not overwrite and _count(photo_dir, "*.jpg") == expected and _count(mask_dir, "*.png") == expected:
        return expected
    for folder in (photo_dir, mask_dir):
        shutil.rmtree(folder, ignore_errors=True)
    paths = demo.write_listings(photo_dir, spec.specs(), spec.photo_counts(), spec.seed, mask_folder=mask_dir,
                                background=spec.background(), photographer=spec.photographer())
    return len(paths)


def _count(folder, pattern):
    return len(list(folder.glob(pattern))) if folder.is_dir() else 0


def studio_background(rng, height, width):
    """A light studio background (float RGB): white, grey, beige, a pastel tint, or a gradient of two."""
    kind = STUDIO_KINDS[rng.choice(len(STUDIO_KINDS), p=STUDIO_WEIGHTS)]
    if kind != "gradient":
        return np.full((height, width, 3), _studio_colour(kind, rng), np.float32)
    first = _studio_colour(STUDIO_KINDS[rng.integers(1, 4)], rng)
    second = _studio_colour(STUDIO_KINDS[rng.integers(0, 4)], rng)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = x * np.cos(angle) + y * np.sin(angle)
    ramp = ((ramp - ramp.min()) / (np.ptp(ramp) + 1e-6))[..., None]
    return first + ramp * (second - first)


def _studio_colour(kind, rng):
    hue, saturation, value = {
        "white": (rng.random(), rng.uniform(0, 0.02), rng.uniform(0.97, 1.0)),
        "grey": (rng.random(), rng.uniform(0, 0.03), rng.uniform(0.76, 0.92)),
        "beige": (rng.uniform(0.07, 0.12), rng.uniform(0.10, 0.25), rng.uniform(0.84, 0.96)),
        "pastel": (rng.random(), rng.uniform(0.10, 0.28), rng.uniform(0.86, 0.99)),
    }[kind]
    return np.array(demo_art.hsv(hue, saturation, value), np.float32)


def thin_part_mask(mask):
    """Pixels of a bool mask in parts thinner than THIN_KERNEL_SHARE of the shorter side.

    What an opening of that width removes, less slivers under MIN_THIN_PART pixels (corners).
    """
    side = max(3, int(round(THIN_KERNEL_SHARE * min(mask.shape))) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    opened = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel) > 0
    count, parts, stats, _ = cv2.connectedComponentsWithStats((mask & ~opened).astype(np.uint8), connectivity=8)
    return np.isin(parts, 1 + np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= MIN_THIN_PART))


def thin_part_iou(predicted, true):
    """IoU of two masks restricted to the thin-part pixels of `true` (the share of them `predicted`
    keeps); None when `true` has fewer than MIN_THIN_PIXELS of them. The whole-mask IoU scores the rest."""
    thin = thin_part_mask(true)
    if thin.sum() < MIN_THIN_PIXELS:
        return None
    return float((predicted & thin).sum() / thin.sum())
