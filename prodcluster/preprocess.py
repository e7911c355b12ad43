"""Stage 01 over a folder: one background method (background.py) applied to every listed photo.

Photos are shared among processes (or a Ray cluster's tasks, engine.py); unusable ones are
listed as rejected and the run goes on; a manifest in the output folder records each photo
done and the method and settings that made it, so a rerun skips what is already done.
"""
import dataclasses
import functools
import math
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .background import (BACKGROUND_KINDS, DEFAULT_METHOD, OUTCOMES, REMOVED, WHITE, auto_method, background_kind,
                         check_method, method_settings, remove_background)
from .engine import map_in_processes
from .fileio import (JPEG_SIGNATURE, PNG_SIGNATURE, ImageError, atomic_path, read_image, read_json, save_image,
                     write_json)
from .handoff import rejected_frame
from .progress import progress_bar
from .settings import DEFAULTS, check_whole, cores

STAGE = "01"
SURVEY_PHOTOS = 300  # seeded sample of photos whose background kind is looked at
CHUNKS_PER_WORKER = 4
MAX_CHUNK = 16
MANIFEST_NAME = ".background.json"
MANIFEST_VERSION = 1
MANIFEST_SAVE_SECONDS = 30.0


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
    check_method(method)
    job = _FolderJob(Path(src_dir), Path(dst_dir), None if mask_dir is None else Path(mask_dir), method,
                     check_whole(max_pixels, "max_pixels"))
    job.check_folders()
    names = _check_names(file_names, job.mask_dir is not None)
    workers = check_whole(workers, "workers", optional=True) or cores()
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
