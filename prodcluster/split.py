"""Split product models into known ones (for fine-tuning) and held-out ones.

The split is by model id, never by photo, so no held-out model reaches fine-tuning and
scores can be reported separately for models the network has and has not seen.
"""
import os
import shutil

import numpy as np
import pandas as pd

from .handoff import HELD_OUT, KNOWN


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
