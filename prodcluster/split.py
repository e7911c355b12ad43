"""Split product models into known ones (for fine-tuning), calibration ones and held-out ones.

The split is by model id, never by photo, so no held-out model reaches fine-tuning and
scores can be reported separately for models the network has and has not seen. Calibration
models are known models kept out of fine-tuning: stage 04 learns from their photos where one
model ends.
"""
import os
import shutil

import numpy as np
import pandas as pd

from .handoff import CALIBRATION, HELD_OUT, KNOWN


MIN_CALIBRATION_MODELS = 3  # fewer say little about where one model ends: they fine-tune instead


def split_models(model_ids, train_fraction, seed, calibration_share=0.0):
    """Seeded roles: `train_fraction` of the models are known (at least one when it is above 0), and
    `calibration_share` of those calibrate instead of fine-tuning, where that makes at least
    MIN_CALIBRATION_MODELS and leaves one known model."""
    for name, share in (("train fraction", train_fraction), ("calibration share", calibration_share)):
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1], got {share}")
    models = sorted(set(model_ids))
    n_known = int(round(train_fraction * len(models)))
    n_known = max(n_known, 1) if train_fraction > 0 else 0
    n_calibration = min(int(round(calibration_share * n_known)), max(n_known - 1, 0))
    n_calibration = n_calibration if n_calibration >= MIN_CALIBRATION_MODELS else 0
    order = np.random.default_rng(seed).permutation(len(models))
    roles = {models[i]: KNOWN for i in order[:n_known - n_calibration]}
    roles.update({models[i]: CALIBRATION for i in order[n_known - n_calibration:n_known]})
    return pd.DataFrame({"model_id": models, "role": [roles.get(model, HELD_OUT) for model in models]})


def link_training_photos(labels, known, photo_folder, train_root):
    """Replace `train_root` with one folder per known model holding links to its photos; return how many."""
    if train_root.exists():
        shutil.rmtree(train_root)
    linked = 0
    for row in labels[labels["model_id"].isin(known)].itertuples():
        source = photo_folder / row.file
        if source.is_file():
            _link_or_copy(source, train_root / row.model_id / row.file)
            linked += 1
    return linked


def _link_or_copy(source, target):
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.symlink(os.path.relpath(source, target.parent), target)
    except OSError:
        shutil.copy2(source, target)
