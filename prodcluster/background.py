"""Stage 01: paint the background of product photos white.

Sellers shoot one product model against many backgrounds; whitening the background keeps
the features of later stages on the product. `sobel_contour` is the 2019 project's method:
strong colour edges of a median-blurred photo, outer contours enclosing more than 5% of the
photo are the product, everything outside them turns white. `none` keeps photos as they are.

`preprocess_folder` runs a method over a folder across processes, writes every result under
the same file name, lists unusable photos as rejected, and on a rerun skips photos whose
outputs are already newer than their inputs, so an interrupted run can simply be restarted.
"""
import math
import multiprocessing
import os
import shutil
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from .fileio import (DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, PNG_SIGNATURE, ImageError, atomic_path, read_image,
                     save_image)
from .rejected import rejected_frame

METHODS = ("sobel_contour", "none")
STAGE = "01"
MEDIAN_KERNEL = 5
MIN_CONTOUR_FRACTION = 0.05
WHITE = 255
JPEG_SIGNATURE = b"\xff\xd8\xff"
CHUNKS_PER_WORKER = 4
MAX_CHUNK = 16


def remove_background(rgb, method="sobel_contour"):
    """Return (out_rgb, mask) for an RGB uint8 photo (H x W x 3); the input is not modified.

    `mask` is a bool H x W array, True on the foreground; `out_rgb` is the photo with every
    background pixel set to white. With `sobel_contour`, a photo where no outer contour
    encloses more than 5% of the image is returned unchanged with an all-foreground mask.
    With `none`, the photo is returned unchanged with an all-foreground mask.
    """
    _check_method(method)
    _check_rgb(rgb)
    if method == "none":
        return rgb.copy(), np.ones(rgb.shape[:2], dtype=bool)
    mask = sobel_contour_mask(rgb)
    out = rgb.copy()
    out[~mask] = WHITE
    return out, mask


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


def preprocess_folder(src_dir, dst_dir, file_names, method="sobel_contour", workers=None, mask_dir=None,
                      max_pixels=DEFAULT_MAX_PIXELS, force=False):
    """Remove the background of `file_names` in `src_dir`; return the rejected photos.

    Each result is written under the same file name into `dst_dir` (and, with `mask_dir`, the
    mask as `<stem>.png`, white on the foreground). A photo whose outputs exist and are newer than
    the photo is skipped unless `force`. With `none`, a photo whose content matches its
    extension is copied byte for byte (EXIF orientation and alpha are kept; `read_image`
    applies them later); any other photo is decoded and re-encoded.
    Photos that cannot be read are returned as a DataFrame (`file`, `stage`, `reason`) and
    the run goes on. `workers` processes share the work (default: one per CPU; 1 runs in
    this process); the outputs do not depend on it. Worker processes are started with
    "spawn", so a script calling this needs an `if __name__ == "__main__":` guard.
    """
    _check_method(method)
    job = _FolderJob(Path(src_dir), Path(dst_dir), None if mask_dir is None else Path(mask_dir), method,
                     _check_max_pixels(max_pixels))
    job.check_folders()
    names = _check_names(file_names, job.mask_dir is not None)
    workers = _check_workers(workers)
    todo = names if force else [name for name in names if not job.is_done(name)]
    rows = [(name, STAGE, reason) for name, reason in _run(job, todo, workers)]
    return rejected_frame(rows)


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
        return [self.dst_dir / name, self.mask_dir / f"{Path(name).stem}.png"]

    def is_done(self, name):
        try:
            photo_time = (self.src_dir / name).stat().st_mtime_ns
        except OSError:
            return False
        return all(out.is_file() and out.stat().st_mtime_ns >= photo_time for out in self.outputs(name))

    def process_chunk(self, names):
        """Process `names`; return (name, reason) for each photo that could not be used."""
        rejected = []
        for name in names:
            try:
                self.process(name)
            except ImageError as error:
                rejected.append((name, error.reason))
        return rejected

    def process(self, name):
        src = self.src_dir / name
        rgb = read_image(src, self.max_pixels)
        out, mask = remove_background(rgb, self.method)
        image_path, *mask_paths = self.outputs(name)
        if self.method == "none" and _content_matches_extension(src):
            with atomic_path(image_path) as tmp:
                shutil.copyfile(src, tmp)
        else:
            save_image(image_path, out)
        for path in mask_paths:
            save_image(path, cv2.cvtColor(mask.astype(np.uint8) * WHITE, cv2.COLOR_GRAY2RGB))


def _content_matches_extension(path):
    with open(path, "rb") as handle:
        head = handle.read(len(PNG_SIGNATURE))
    if path.suffix.lower() == ".png":
        return head == PNG_SIGNATURE
    return head.startswith(JPEG_SIGNATURE)


def _run(job, names, workers):
    chunks = _split(names, workers)
    rejected = []
    with tqdm(total=len(names), desc=f"{STAGE} background removal", unit="photo") as bar:
        for chunk, chunk_rejected in zip(chunks, _map_chunks(job, chunks, workers)):
            rejected.extend(chunk_rejected)
            bar.update(len(chunk))
    return rejected


def _split(names, workers):
    size = min(MAX_CHUNK, max(1, math.ceil(len(names) / (workers * CHUNKS_PER_WORKER))))
    return [names[start:start + size] for start in range(0, len(names), size)]


def _map_chunks(job, chunks, workers):
    if workers == 1 or len(chunks) <= 1:
        yield from map(job.process_chunk, chunks)
        return
    # "spawn" rather than fork: the caller may hold threads (OpenCV, TensorFlow) that fork copies badly.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(workers, len(chunks)), mp_context=context, initializer=_init_worker) as pool:
        yield from pool.map(job.process_chunk, chunks)


def _init_worker():
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
        if Path(name).name != name or Path(name).suffix.lower() not in IMAGE_EXTENSIONS:
            raise ValueError(f"{name!r} is not a photo file name ({', '.join(IMAGE_EXTENSIONS)}, no folder part)")
    _check_unique(names, "file name")
    if with_masks:
        _check_unique([Path(name).stem for name in names], "mask name (file name without extension)")
    return names


def _check_unique(values, what):
    repeated = sorted(value for value, count in Counter(values).items() if count > 1)
    if repeated:
        raise ValueError(f"repeated {what}: {', '.join(repeated[:10])}")


def _check_workers(workers):
    if workers is None:
        return os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive whole number or None, got {workers!r}")
    return workers


def _check_max_pixels(max_pixels):
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive whole number, got {max_pixels!r}")
    return max_pixels
