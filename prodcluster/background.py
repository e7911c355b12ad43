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
- `sobel_contour`: the 2019 project's method: outer contours of strong colour edges that
  enclose over 5% of the photo are the product; everything outside them turns white.
- `none` keeps photos as they are.

`preprocess_folder` runs a method over a folder across processes, lists unusable photos as
rejected, and on a rerun skips photos already done with the same method and settings.
"""
import dataclasses
import functools
import math
import multiprocessing
import os
import shutil
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from skimage.morphology import remove_small_holes

from .fileio import (JPEG_SIGNATURE, PNG_SIGNATURE, ImageError, atomic_path, read_image, read_json, save_image,
                     write_json)
from .handoff import rejected_frame
from .progress import progress_bar
from .settings import DEFAULTS, PREPROCESS_METHODS, check_whole

METHODS = PREPROCESS_METHODS
DEFAULT_METHOD = DEFAULTS.preprocess
WHITE_KIND, STUDIO_KIND, CLUTTERED_KIND = BACKGROUND_KINDS = ("white", "studio", "cluttered")
REMOVED, PLAIN, IMPLAUSIBLE, UNCHANGED = OUTCOMES = ("removed", "plain", "implausible", "unchanged")
STAGE = "01"
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
SURVEY_PHOTOS = 300  # seeded sample of photos whose background kind is looked at
CLUTTERED_SET_SHARE = 0.5  # from this share of cluttered backgrounds up, auto removes backgrounds (grabcut)

CHUNKS_PER_WORKER = 4
MAX_CHUNK = 16
MANIFEST_NAME = ".background.json"
MANIFEST_VERSION = 1
MANIFEST_SAVE_SECONDS = 30.0


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
    _check_method(method)
    _check_rgb(rgb)
    if method == "none":
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
    _check_method(method)
    if method == "none":
        return {}
    names = ["MEDIAN_KERNEL", "MIN_CONTOUR_FRACTION"]
    if method == "grabcut":
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


# ----- folders -----

def preprocess_folder(src_dir, dst_dir, file_names, method=DEFAULT_METHOD, workers=None, mask_dir=None,
                      max_pixels=DEFAULTS.max_image_pixels, force=False, map_chunks=None):
    """Remove the background of `file_names` in `src_dir`; return the rejected photos.

    Each result is written under the same file name into `dst_dir` (and, with `mask_dir`, the
    mask as `<name without extension>.png`, white on the foreground); names may hold sub-folders.
    A photo is skipped unless `force` when its outputs exist, are newer than the photo, and
    `dst_dir`'s manifest records it as done with the same method and settings. With `none`, a
    photo whose content matches its extension is copied byte for byte (EXIF orientation and
    alpha are kept; `read_image` applies them later); any other photo is decoded and re-encoded.
    `auto` surveys the backgrounds first and applies one method to every photo (`auto_method`).
    Photos that cannot be read are returned as a DataFrame (`file`, `stage`, `reason`) and the
    run goes on; its `attrs` hold the method applied, the survey's counts of background kinds
    (auto only) and `outcomes`, the listed photos done by outcome (see `remove_background`),
    skipped ones included. `workers` processes share the work (default:
    one per CPU; 1 runs in this process); the outputs do not depend on it. Worker processes
    are started with "spawn", so a script calling this needs an `if __name__ == "__main__":`
    guard. `map_chunks(function, chunks)`, when given, runs the chunks elsewhere instead (a
    Ray cluster, see engine.py) and yields each chunk's results, in any order.
    """
    _check_method(method)
    job = _FolderJob(Path(src_dir), Path(dst_dir), None if mask_dir is None else Path(mask_dir), method,
                     check_whole(max_pixels, "max_pixels"))
    job.check_folders()
    names = _check_names(file_names, job.mask_dir is not None)
    workers = check_whole(workers, "workers", optional=True) or os.cpu_count() or 1
    kinds = None
    if method == "auto":
        kinds = survey_backgrounds(job.src_dir, names, job.max_pixels)
        job = dataclasses.replace(job, method=auto_method(kinds.elements()))
    manifest = _Manifest.load(job.dst_dir, job.method)
    todo = names if force else [name for name in names if not (name in manifest.done and job.is_done(name))]
    map_chunks = map_chunks or functools.partial(map_in_processes, workers=workers)
    rejected = rejected_frame((name, STAGE, reason) for name, reason in _run(job, todo, workers, map_chunks, manifest))
    done = Counter(manifest.done[name] for name in names if name in manifest.done)
    rejected.attrs["outcomes"] = {outcome: done[outcome] for outcome in OUTCOMES}
    rejected.attrs["method"] = job.method
    rejected.attrs["background_kinds"] = None if kinds is None else {kind: kinds[kind] for kind in BACKGROUND_KINDS}
    return rejected


def applied_method(dst_dir):
    """The method that made the photos of `dst_dir` (auto resolved), as its manifest records it; None if none."""
    path = Path(dst_dir) / MANIFEST_NAME
    try:
        return read_json(path).get("method") if path.is_file() else None
    except ValueError:
        return None


def survey_backgrounds(src_dir, names, max_pixels=DEFAULTS.max_image_pixels, seed=0):
    """Counter of the background kinds of a seeded sample of SURVEY_PHOTOS photos (unreadable ones skipped)."""
    if len(names) > SURVEY_PHOTOS:
        picked = np.random.default_rng(seed).choice(len(names), SURVEY_PHOTOS, replace=False)
        names = [names[index] for index in sorted(picked)]
    kinds = Counter()
    for name in names:
        try:
            kinds[background_kind(read_image(Path(src_dir) / name, max_pixels))] += 1
        except ImageError:
            continue
    return kinds


class _Manifest:
    """What the output folder holds: method, settings and each finished photo's outcome."""

    def __init__(self, folder, method, done):
        self.path = folder / MANIFEST_NAME
        self.header = {"version": MANIFEST_VERSION, "method": method, "settings": method_settings(method)}
        self.done = done
        self.saved_at = time.monotonic()

    @classmethod
    def load(cls, folder, method):
        manifest = cls(folder, method, {})
        if manifest.path.is_file():
            try:
                recorded = read_json(manifest.path)
            except ValueError:
                recorded = {}  # unreadable: everything is redone
            if all(recorded.get(key) == value for key, value in manifest.header.items()):
                manifest.done = dict(recorded.get("photos", {}))
        return manifest

    def record(self, name, outcome):
        self.done[name] = outcome
        if time.monotonic() - self.saved_at > MANIFEST_SAVE_SECONDS:
            self.save()

    def forget(self, name):
        self.done.pop(name, None)

    def save(self):
        write_json(self.path, {**self.header, "photos": dict(sorted(self.done.items()))})
        self.saved_at = time.monotonic()


@dataclass(frozen=True)
class _FolderJob:
    src_dir: Path
    dst_dir: Path
    mask_dir: Path | None
    method: str
    max_pixels: int

    def check_folders(self):
        if not self.src_dir.is_dir():
            raise FileNotFoundError(f"photo folder {self.src_dir} does not exist")
        for out_dir in (self.dst_dir, self.mask_dir):
            if out_dir is not None and out_dir.resolve() == self.src_dir.resolve():
                raise ValueError(f"output folder {out_dir} must differ from the photo folder (it would overwrite it)")

    def outputs(self, name):
        if self.mask_dir is None:
            return [self.dst_dir / name]
        return [self.dst_dir / name, self.mask_dir / _mask_name(name)]

    def is_done(self, name):
        try:
            photo_time = (self.src_dir / name).stat().st_mtime_ns
        except OSError:
            return False
        return all(out.is_file() and out.stat().st_mtime_ns >= photo_time for out in self.outputs(name))

    def process_chunk(self, names):
        """Process `names`; return (name, outcome, None) per photo done, (name, None, reason) per unusable one."""
        results = []
        for name in names:
            try:
                results.append((name, self.process(name), None))
            except ImageError as error:
                results.append((name, None, error.reason))
        return results

    def process(self, name):
        src = self.src_dir / name
        rgb = read_image(src, self.max_pixels)
        removal = remove_background(rgb, self.method)
        image_path, *mask_paths = self.outputs(name)
        if removal.outcome != REMOVED and _content_matches_extension(src):
            with atomic_path(image_path) as tmp:
                shutil.copyfile(src, tmp)
        else:
            save_image(image_path, removal.rgb)
        for path in mask_paths:
            save_image(path, cv2.cvtColor(removal.mask.astype(np.uint8) * WHITE, cv2.COLOR_GRAY2RGB))
        return removal.outcome


def _content_matches_extension(path):
    with open(path, "rb") as handle:
        head = handle.read(len(PNG_SIGNATURE))
    if path.suffix.lower() == ".png":
        return head == PNG_SIGNATURE
    return head.startswith(JPEG_SIGNATURE)


def _run(job, names, workers, map_chunks, manifest):
    """Process `names`, recording outcomes in `manifest`; return (name, reason) per rejected photo."""
    rejected = []
    try:
        with progress_bar(total=len(names), desc=f"{STAGE} background removal", unit="photo") as bar:
            for results in map_chunks(job.process_chunk, _split(names, workers)):
                for name, outcome, reason in results:
                    if reason is None:
                        manifest.record(name, outcome)
                    else:
                        manifest.forget(name)
                        rejected.append((name, reason))
                bar.update(len(results))
    finally:
        manifest.save()
    return rejected


def _split(names, workers):
    size = min(MAX_CHUNK, max(1, math.ceil(len(names) / (workers * CHUNKS_PER_WORKER))))
    return [names[start:start + size] for start in range(0, len(names), size)]


def map_in_processes(function, chunks, workers):
    """Yield function(chunk) for each chunk, on `workers` processes of this machine (1: in this process)."""
    if workers == 1 or len(chunks) <= 1:
        yield from map(function, chunks)
        return
    # "spawn" rather than fork: the caller may hold threads (OpenCV, TensorFlow) that fork copies badly.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(workers, len(chunks)), mp_context=context, initializer=one_opencv_thread) as pool:
        with _ctrl_c_ignored():  # by the workers, from their start: Ctrl-C reaches the whole group, the driver answers
            results = pool.map(function, chunks)  # starts the workers
        try:
            yield from results
        except BaseException:  # Ctrl-C or an error: the chunks not yet started are dropped, not waited for
            pool.shutdown(cancel_futures=True)
            raise


@contextmanager
def _ctrl_c_ignored():
    """SIGINT ignored while inside (processes started then inherit that); only the main thread can set it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def one_opencv_thread():
    cv2.setNumThreads(1)  # the processes already use every core


def _check_method(method):
    if method not in METHODS:
        raise ValueError(f"unknown background removal method {method!r}; choose one of {', '.join(METHODS)}")


def _check_rgb(rgb):
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        described = f"{rgb.dtype} array of shape {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise ValueError(f"expected an RGB uint8 image of shape (H, W, 3), got a {described}")


def _check_names(file_names, with_masks):
    if isinstance(file_names, (str, Path)):
        raise TypeError("file_names must be a list of file names, not a single name")
    names = [str(name) for name in file_names]
    for name in names:
        path = Path(name)
        if path.is_absolute() or ".." in path.parts or not path.suffix:
            raise ValueError(f"{name!r} is not a photo path inside the photo folder (a file name with an extension, "
                             "no absolute path or '..')")
    _check_unique(names, "file name")
    if with_masks:
        _check_unique([_mask_name(name) for name in names], "mask name (file name without extension)")
    return names


def _mask_name(name):
    return Path(name).with_suffix(".png").as_posix()


def _check_unique(values, what):
    repeated = sorted(value for value, count in Counter(values).items() if count > 1)
    if repeated:
        raise ValueError(f"repeated {what}: {', '.join(repeated[:10])}")
