"""Stage 00: the image list and true labels, read from the photos' file names.

Photos are named MODELID_PRODUCTID_IMAGEID.<ext>; the model id is the true cluster.
The sorted image list fixes the row order that every later stage keeps.
"""
import re
from pathlib import Path

import pandas as pd

from .fileio import read_csv, write_csv, write_lines
from .rejected import record_rejected, rejected_frame

NAME_PATTERN = re.compile(r"^(?P<model_id>[^_]+)_(?P<product_id>[^_]+)_(?P<image_id>.+)$", re.DOTALL)
STAGE = "00"


class BadFileNames(ValueError):
    """Some photo names do not follow MODELID_PRODUCTID_IMAGEID.<ext>."""

    def __init__(self, folder, names):
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        super().__init__(
            f"{len(names)} file name(s) in {folder} do not follow MODELID_PRODUCTID_IMAGEID.ext: {shown}. "
            "Rename them, or pass --skip-bad-names to leave them out (they are listed in rejected.csv).")
        self.names = names


def parse_name(file_name):
    """Split 'MODELID_PRODUCTID_IMAGEID.ext' into its three ids, or return None."""
    match = NAME_PATTERN.match(Path(file_name).stem)
    if not match or match["model_id"] in (".", ".."):  # a model id names a training folder
        return None
    return match.groupdict()


def list_images(folder, extensions):
    """(photo names, refused names) directly in `folder`, sorted; clear errors for a missing or empty folder.

    A symbolic link whose target lies outside the folder is refused, so no stage reads
    (or later writes beside) files the user did not put in the data set.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"photo folder {folder} does not exist: put the photos there or choose another "
                                "data set with --dataset NAME")
    suffixes = {ext.lower() for ext in extensions}
    candidates = sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes and not p.is_dir())
    if not candidates:
        raise FileNotFoundError(f"no photos ({', '.join(sorted(suffixes))}) in {folder}")
    inside = folder.resolve()
    refused = [p.name for p in candidates if p.is_symlink() and not p.resolve().is_relative_to(inside)]
    return [p.name for p in candidates if p.name not in refused], refused


def make_labels(settings, skip_bad_names=False):
    """Write images.txt, labels.csv and labels_true.txt for the data set; return the labels table."""
    names, outside = list_images(settings.raw_img, settings.img_ext)
    parsed = {name: parse_name(name) for name in names}
    bad = [name for name, ids in parsed.items() if ids is None]
    if bad and not skip_bad_names:
        raise BadFileNames(settings.raw_img, bad)
    labels = pd.DataFrame([{"file": name, **ids} for name, ids in parsed.items() if ids is not None],
                          columns=["file", "model_id", "product_id", "image_id"])
    if labels.empty:
        raise ValueError(f"none of the {len(names)} photos in {settings.raw_img} has a usable name")
    write_csv(settings.data_file("labels"), labels)
    write_lines(settings.data_file("image_list"), labels["file"])
    write_lines(settings.data_file("labels_true"), labels["model_id"])
    reasons = [(name, "name is not MODELID_PRODUCTID_IMAGEID.ext") for name in bad]
    reasons += [(name, "symbolic link to a file outside the data folder") for name in outside]
    record_rejected(settings, STAGE, rejected_frame({"file": n, "stage": STAGE, "reason": r} for n, r in reasons))
    return labels


def load_labels(settings):
    return read_csv(settings.data_file("labels"), stage_hint="00_make_labels_true.py")


def load_image_list(settings):
    return load_labels(settings)["file"].tolist()
