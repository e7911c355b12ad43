"""New photos into an existing clustering, without clustering again: the catalogue grows, its numbers stay.

A new photo joins the cluster whose centre (the mean of its unit vectors, cosine similarity) it
matches best, when it matches it at least as well as most photos of the earlier run match
their own cluster's centre (the JOIN_QUANTILE of those similarities). The photos that match
no cluster are grouped among themselves by average linkage, cut where the mean similarity of
a group's photo pairs would fall below what most photo pairs of one earlier cluster reach
(the same quantile), and each group opens a new cluster numbered after the existing ones.
Both thresholds are learnt once, from the run as stage 04 left it, and kept, so later
batches are judged by the same rule. The choice of the quantile is in docs/decisions.md.
"""
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import AgglomerativeClustering

JOIN_QUANTILE = 0.02  # a newcomer must match a centre as well as 98% of the run's photos match their own
PAIR_SAMPLE = 200  # photos of a large cluster whose pairs are compared


@dataclass
class Thresholds:
    join: float  # least cosine similarity to a cluster's centre to join it
    group: float  # least mean cosine similarity of the photo pairs of a group of newcomers
    quantile: float = JOIN_QUANTILE  # of the run's similarities, that both thresholds are

    def as_dict(self):
        return {"join_similarity": self.join, "group_similarity": self.group, "join_quantile": self.quantile}

    @classmethod
    def from_dict(cls, record):
        return cls(record["join_similarity"], record["group_similarity"], record["join_quantile"])


@dataclass
class Assignment:
    clusters: np.ndarray  # cluster of each new photo
    similarity: np.ndarray  # its cosine similarity to the centre of the cluster it matched best
    joined: np.ndarray  # True where it joined an existing cluster


def centres(features, clusters):
    """(cluster labels, one unit-length centre row per label)."""
    labels, codes = np.unique(clusters, return_inverse=True)
    sums = np.zeros((len(labels), features.shape[1]))
    np.add.at(sums, codes, features)
    return labels, sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)


def learn_thresholds(features, clusters, quantile=JOIN_QUANTILE, seed=0):
    """The thresholds of the rule above, from the clustered photos (clusters of one photo teach nothing)."""
    features, clusters = unit(features), np.asarray(clusters)
    labels, centre_rows = centres(features, clusters)
    sizes = dict(zip(*np.unique(clusters, return_counts=True)))
    shared = np.array([sizes[label] > 1 for label in clusters])
    if not shared.any():
        raise ValueError("every cluster holds one photo: there is no cluster to learn what one model looks like from")
    own = (features * centre_rows[np.searchsorted(labels, clusters)]).sum(axis=1)
    join = float(np.quantile(own[shared], quantile))
    pairs = [_pair_similarities(features[clusters == label], seed) for label in labels if sizes[label] > 1]
    return Thresholds(join=join, group=float(np.quantile(np.concatenate(pairs), quantile)), quantile=quantile)


def _pair_similarities(members, seed, most=PAIR_SAMPLE):
    """Cosine similarities of a cluster's photo pairs (of a seeded sample of `most` photos in a large one)."""
    if len(members) > most:
        members = members[np.random.default_rng(seed).choice(len(members), most, replace=False)]
    upper = np.triu_indices(len(members), k=1)
    return (members @ members.T)[upper]


def assign(features, clusters, new_features, thresholds):
    """Each new photo's cluster: an existing one it matches, or a new one numbered after max(clusters)."""
    features, new_features, clusters = unit(features), unit(new_features), np.asarray(clusters)
    labels, centre_rows = centres(features, clusters)
    similarities = new_features @ centre_rows.T
    best = similarities.argmax(axis=1)
    similarity = similarities[np.arange(len(new_features)), best]
    joined = similarity >= thresholds.join
    result = labels[best].copy()
    strangers = np.flatnonzero(~joined)
    result[strangers] = clusters.max() + 1 + _groups(new_features[strangers], thresholds.group)
    return Assignment(clusters=result, similarity=similarity, joined=joined)


def _groups(features, least_mean_similarity):
    """0-based group of each row, numbered in order of first appearance."""
    if len(features) < 2:
        return np.zeros(len(features), dtype=int)
    raw = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                  distance_threshold=1.0 - least_mean_similarity).fit_predict(features)
    first_seen = {label: number for number, label in enumerate(dict.fromkeys(raw))}
    return np.array([first_seen[label] for label in raw])


def unit(features):
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or not np.isfinite(features).all():
        raise ValueError(f"features must be a finite 2-D array, got shape {features.shape}")
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
