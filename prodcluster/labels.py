"""Stage 00: the image list and true labels, read from the photos' file names.

Photos may sit in sub-folders and have any name; a name MODELID_PRODUCTID_IMAGEID.<ext> gives
the true cluster (the model id). The sorted image list fixes the row order every later stage keeps.
"""
import os
import re
from pathlib import Path

import pandas as pd

from .fileio import read_csv, write_csv, write_lines
from .rejected import record_rejected, rejected_frame

NAME_PATTERN = re.compile(r"^(?P<model_id>[^_]+)_(?P<product_id>[^_]+)_(?P<image_id>.+)$", re.DOTALL)
STAGE = "00"


def parse_name(file_name):
    """Split 'MODELID_PRODUCTID_IMAGEID.ext' into its three ids, or return None."""
    match = NAME_PATTERN.match(Path(file_name).stem)
    if not match or match["model_id"] in (".", ".."):  # a model id names a training folder
        return None
    return match.groupdict()


def list_images(folder, extensions):
    """(photo paths relative to `folder`, refused paths), sorted; sub-folders are searched too.

    Hidden files and folders (a leading dot) are passed over. A symbolic link whose target
    lies outside the folder is refused, so no stage reads (or later writes beside) files the
    user did not put in the data set. Missing or empty folders raise with a clear message.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"photo folder {folder} does not exist: put the photos there or choose another "
                                "data set with --dataset NAME")
    suffixes = {ext.lower() for ext in extensions}
    candidates = []
    for directory, subfolders, files in os.walk(folder):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        candidates += [Path(directory) / name for name in files
                       if not name.startswith(".") and Path(name).suffix.lower() in suffixes]
    if not candidates:
        raise FileNotFoundError(f"no photos ({', '.join(sorted(suffixes))}) in {folder} or its sub-folders")
    inside = folder.resolve()
    names = sorted(path.relative_to(folder).as_posix() for path in candidates)
    refused = {name for name in names if (folder / name).is_symlink()
               and not (folder / name).resolve().is_relative_to(inside)}
    return [name for name in names if name not in refused], sorted(refused)


def make_labels(settings):
    """Write images.txt, labels.csv and labels_true.txt for the data set; return the labels table.

    A photo whose name does not follow MODELID_PRODUCTID_IMAGEID has no true model (empty ids):
    it is clustered like the others and left out of the scores.
    """
    names, outside = list_images(settings.raw_img, settings.img_ext)
    empty = {"model_id": "", "product_id": "", "image_id": ""}
    labels = pd.DataFrame([{"file": name, **(parse_name(Path(name).name) or empty)} for name in names],
                          columns=["file", "model_id", "product_id", "image_id"])
    write_csv(settings.data_file("labels"), labels)
    write_lines(settings.data_file("image_list"), labels["file"])
    write_lines(settings.data_file("labels_true"), labels["model_id"])
    reasons = [(name, "symbolic link to a file outside the data folder") for name in outside]
    record_rejected(settings, STAGE, rejected_frame({"file": n, "stage": STAGE, "reason": r} for n, r in reasons))
    return labels


def load_labels(settings):
    return read_csv(settings.data_file("labels"), stage_hint="00_make_labels_true.py")


def load_image_list(settings):
    return load_labels(settings)["file"].tolist()
