"""Feature arrays at the boundary of the modules that take them (clustering, metrics, pictures)."""
import numpy as np


def checked_features(features, dtype=np.float32, min_rows=2):
    """`features` as a finite 2-D `dtype` array of at least `min_rows` photos; else a ValueError saying why."""
    data = np.asarray(features)
    if data.ndim != 2:
        raise ValueError(f"features must be a 2-D array (photos x dimensions), got shape {data.shape}")
    if data.shape[0] < min_rows:
        raise ValueError(f"need at least {min_rows} images, got {data.shape[0]}")
    if data.shape[1] < 1:
        raise ValueError("features have no dimensions")
    if not (np.issubdtype(data.dtype, np.integer) or np.issubdtype(data.dtype, np.floating)):
        raise ValueError(f"features must be real numbers, got dtype {data.dtype}")
    data = data.astype(dtype, copy=False)
    if not np.isfinite(data).all():
        raise ValueError("features contain NaN or infinite values")
    return data


def sample_rows(n_rows, sample_size, seed):
    """All rows, or a seeded sorted sample of `sample_size` of them."""
    if n_rows <= sample_size:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, sample_size, replace=False))


def per_class_mask(labels, count, seed):
    """A seeded mask holding `count(n)` of the n rows of each label: a per-class hold-out."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        mask[members[:count(len(members))]] = True
    return mask
