"""Stage 00: the image list and true labels, read from the photos' file names.

Photos may sit in sub-folders and have any name; a name MODELID_PRODUCTID_IMAGEID.<ext> gives
the true cluster (the model id). The sorted image list fixes the row order every later stage keeps.
"""
import os
import re
from pathlib import Path

import pandas as pd

NAME_PATTERN = re.compile(r"^(?P<model_id>[^_]+)_(?P<product_id>[^_]+)_(?P<image_id>.+)$", re.DOTALL)


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


def labels_table(names):
    """One row per photo name: file, model_id, product_id, image_id (empty ids when the name gives none)."""
    empty = {"model_id": "", "product_id": "", "image_id": ""}
    return pd.DataFrame([{"file": name, **(parse_name(Path(name).name) or empty)} for name in names],
                        columns=["file", "model_id", "product_id", "image_id"])
