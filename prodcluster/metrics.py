"""Scores that say how well predicted clusters match the true product models.

The adjusted Rand index (ARI) is the headline number, as in the 2019 project; the
information-based scores and the Hungarian-matched accuracy explain *why* an ARI is
low (too many small clusters hurt completeness, merged models hurt homogeneity).
Recall@1 judges the features themselves, before any clustering: a photo whose
nearest neighbour shows the same model is easy to cluster.
"""
from collections.abc import Mapping

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler, normalize

from .arrays import checked_features, per_class_mask

RECALL_METRICS = ("cosine", "euclidean")
PROBE_ITERATIONS = 1000
# Column order of format_table; keys outside this list follow in their own order.
TABLE_COLUMNS = ("n_images", "k_true", "k_pred", "ari", "nmi", "ami", "homogeneity", "completeness", "acc")


def _as_labels(labels, name):
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {labels.shape}")
    if labels.size == 0:
        raise ValueError(f"{name} is empty")
    return labels


def _label_pair(labels_true, labels_pred):
    labels_true = _as_labels(labels_true, "labels_true")
    labels_pred = _as_labels(labels_pred, "labels_pred")
    if len(labels_true) != len(labels_pred):
        raise ValueError(
            f"labels_true has {len(labels_true)} entries but labels_pred has {len(labels_pred)}"
        )
    return labels_true, labels_pred


def clustering_accuracy(labels_true, labels_pred):
    """Share of photos whose cluster is matched to their model by a one-to-one assignment.

    Clusters and models are paired to maximise the photos they share (Hungarian
    method); photos in a cluster left without a model count as wrong.
    """
    labels_true, labels_pred = _label_pair(labels_true, labels_pred)
    shared = skm.cluster.contingency_matrix(labels_true, labels_pred)
    rows, cols = linear_sum_assignment(shared, maximize=True)
    return float(shared[rows, cols].sum() / len(labels_true))


def clustering_scores(labels_true, labels_pred):
    """All clustering scores for one set of photos, as a dict of plain Python numbers."""
    labels_true, labels_pred = _label_pair(labels_true, labels_pred)
    homogeneity, completeness, _ = skm.homogeneity_completeness_v_measure(labels_true, labels_pred)
    return {
        "ari": float(skm.adjusted_rand_score(labels_true, labels_pred)),
        "nmi": float(skm.normalized_mutual_info_score(labels_true, labels_pred)),
        "ami": float(skm.adjusted_mutual_info_score(labels_true, labels_pred)),
        "homogeneity": float(homogeneity),
        "completeness": float(completeness),
        "acc": clustering_accuracy(labels_true, labels_pred),
        "k_true": int(np.unique(labels_true).size),
        "k_pred": int(np.unique(labels_pred).size),
        "n_images": int(len(labels_true)),
    }


def split_scores(labels_true, labels_pred, seen_models):
    """Scores on all photos, on photos of models used for fine-tuning, and on the others.

    Model ids are compared as text, so 7 and "7" name the same model. A part
    without photos scores None.
    """
    labels_true, labels_pred = _label_pair(labels_true, labels_pred)
    if isinstance(seen_models, str):
        raise TypeError("seen_models must be a collection of model ids, not a single string")
    seen_text = np.array([str(model) for model in seen_models], dtype=str)
    is_seen = np.isin(labels_true.astype(str), seen_text)
    masks = {"all": np.ones(len(labels_true), dtype=bool), "seen": is_seen, "unseen": ~is_seen}
    return {
        part: clustering_scores(labels_true[mask], labels_pred[mask]) if mask.any() else None
        for part, mask in masks.items()
    }


def _as_mask(mask, n_rows):
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != (n_rows,):
        raise ValueError(f"mask must be a boolean array of length {n_rows}, got {mask.dtype} {mask.shape}")
    return mask


def _features_and_labels(features, labels, mask):
    features = checked_features(features, np.float64, min_rows=0)
    labels = _as_labels(labels, "labels")
    if len(labels) != len(features):
        raise ValueError(f"features has {len(features)} rows but labels has {len(labels)} entries")
    if mask is not None:
        mask = _as_mask(mask, len(labels))
        features, labels = features[mask], labels[mask]
    return features, labels


def recall_at_1(features, labels, mask=None, metric="cosine"):
    """Share of photos whose nearest other photo has the same label.

    With `mask`, only the masked rows take part, both as queries and as candidates.
    Photos whose label occurs once have no possible match and are not queried;
    returns NaN when no photo is left to query. Neighbours are found by scikit-learn
    in chunks, so no N x N distance matrix is held at once (about 3 s and 180 MB for
    20,000 x 64 features).
    """
    if metric not in RECALL_METRICS:
        raise ValueError(f"metric must be one of {RECALL_METRICS}, got {metric!r}")
    features, labels = _features_and_labels(features, labels, mask)
    _, codes, counts = np.unique(labels, return_inverse=True, return_counts=True)
    queries = np.flatnonzero(counts[codes] > 1)
    if queries.size == 0:
        return float("nan")
    if metric == "cosine":
        # On unit vectors Euclidean order equals cosine order, and scikit-learn's chunked
        # Euclidean search is far faster and leaner than its generic cosine path.
        features = normalize(features)
    index = NearestNeighbors(n_neighbors=2).fit(features)
    _, nearest = index.kneighbors(features[queries])
    # Exact duplicates tie at distance 0, so the photo itself may come second.
    other = np.where(nearest[:, 0] == queries, nearest[:, 1], nearest[:, 0])
    return float(np.mean(codes[other] == codes[queries]))


def probe_ari(features, labels, seed=0):
    """ARI of a supervised probe: how well these features could group the photos at best.

    Each model's photos are split in two seeded halves; a logistic regression trained on one
    half labels the other, and the other way round, and the ARI of those labels against the
    truth is returned. A clustering, which sees no label, rarely beats it.
    """
    features, labels = _features_and_labels(features, labels, None)
    if np.unique(labels).size < 2:
        raise ValueError("the probe needs photos of at least 2 models")
    features = normalize(features)
    halves = per_class_mask(labels, lambda photos: (photos + 1) // 2, seed)  # half of each model, rounded up
    predicted = labels.copy()
    for half in (halves, ~halves):
        if np.unique(labels[~half]).size > 1:
            probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=PROBE_ITERATIONS))
            probe.fit(features[~half], labels[~half])
            predicted[half] = probe.predict(features[half])
    return float(skm.adjusted_rand_score(labels, predicted))


def _format_cell(value):
    if value is None:
        return "-"
    if isinstance(value, (float, np.floating)):
        return f"{value:.4f}"
    return str(value)


def _table_columns(scores_by_part):
    present = [key for scores in scores_by_part.values() if scores for key in scores]
    extra = [key for key in dict.fromkeys(present) if key not in TABLE_COLUMNS]
    return [key for key in TABLE_COLUMNS if key in present] + extra


def format_table(scores_by_part):
    """Aligned text table, one row per part (e.g. all / seen / unseen), '-' for no value."""
    if not isinstance(scores_by_part, Mapping) or not scores_by_part:
        raise ValueError("scores_by_part must be a non-empty mapping of part name to scores (or None)")
    columns = _table_columns(scores_by_part)
    rows = [["part", *columns]]
    for part, scores in scores_by_part.items():
        scores = scores or {}
        rows.append([str(part), *(_format_cell(scores.get(key)) for key in columns)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(_format_row(row, widths) for row in rows)


def _format_row(cells, widths):
    name, *values = cells
    return "  ".join([name.ljust(widths[0]), *(value.rjust(width) for value, width in zip(values, widths[1:]))])
