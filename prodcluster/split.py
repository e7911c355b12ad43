"""Split product models into known ones (for fine-tuning) and held-out ones.

The split is by model id, never by photo, so no held-out model reaches fine-tuning and
scores can be reported separately for models the network has and has not seen.
"""
import os
import shutil

import numpy as np
import pandas as pd

from .fileio import read_csv, read_json, write_csv
from .labels import load_labels

KNOWN, HELD_OUT = "known", "held_out"


def split_models(model_ids, train_fraction, seed):
    """Seeded choice of known models; at least one model is known when train_fraction > 0."""
    if not 0.0 <= train_fraction <= 1.0:
        raise ValueError(f"train fraction must lie in [0, 1], got {train_fraction}")
    models = sorted(set(model_ids))
    n_known = int(round(train_fraction * len(models)))
    n_known = max(n_known, 1) if train_fraction > 0 else 0
    order = np.random.default_rng(seed).permutation(len(models))
    known = {models[i] for i in order[:n_known]}
    return pd.DataFrame({"model_id": models, "role": [KNOWN if m in known else HELD_OUT for m in models]})


def make_training_folders(settings):
    """Write split.csv and one folder per known model holding links to its preprocessed photos."""
    labels = load_labels(settings)
    split = split_models(labels.loc[labels["model_id"] != "", "model_id"], settings.train_fraction, settings.seed)
    write_csv(settings.data_file("split"), split)
    known = set(split.loc[split["role"] == KNOWN, "model_id"])
    train_root = settings.train_img
    if train_root.exists():
        shutil.rmtree(train_root)
    linked = 0
    for row in labels[labels["model_id"].isin(known)].itertuples():
        source = settings.img / row.file
        if source.is_file():
            _link_or_copy(source, train_root / row.model_id / row.file)
            linked += 1
    return split, linked


def _link_or_copy(source, target):
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.symlink(os.path.relpath(source, target.parent), target)
    except OSError:
        shutil.copy2(source, target)


def load_split(settings):
    return read_csv(settings.data_file("split"), stage_hint="make_training_image_folders.py")


def known_models(settings):
    """Model ids used for fine-tuning (empty when no split was made for this data set)."""
    path = settings.data_file("split")
    if not path.is_file():
        return set()
    split = read_csv(path)
    return set(split.loc[split["role"] == KNOWN, "model_id"])


def trained_on(settings):
    """The data set whose known models the features' network saw, as stage 03 recorded it."""
    path = settings.data_file("features_info")
    recorded = read_json(path).get("finetuned_on") if path.is_file() else None
    return recorded or settings.finetuned_from or settings.dataset
