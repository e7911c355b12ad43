"""New photos into an existing clustering, without clustering again: the catalogue grows, its numbers stay.

A new photo joins the cluster whose centre (the mean of its unit vectors, cosine similarity) it
matches best, when it matches it at least as well as most photos of the earlier run match
their own cluster's centre (the JOIN_QUANTILE of those similarities). The photos that match
no cluster are grouped by average linkage, cut where the mean similarity of a group's photo
pairs would fall below what most photo pairs of one earlier cluster reach (the same quantile).
The clusters earlier batches opened take part whole (never merged with one another), so a new
model whose photos come on several days ends up in one cluster, as if they had come on one;
a group that takes in none of them opens a new cluster numbered after the existing ones.
Both thresholds are learnt once, from the run as stage 04 left it, and kept, so later
batches are judged by the same rule. The choices are in docs/decisions.md.
"""
from dataclasses import dataclass

import numpy as np

JOIN_QUANTILE = 0.02  # a newcomer must match a centre as well as 98% of the run's photos match their own
PAIR_SAMPLE = 200  # photos of a large cluster whose pairs are compared


@dataclass
class Thresholds:
    join: float  # least cosine similarity to a cluster's centre to join it
    group: float  # least mean cosine similarity of the photo pairs of a group of newcomers
    quantile: float = JOIN_QUANTILE  # of the run's similarities, that both thresholds are
    first_opened: int = 0  # clusters numbered from here on were opened by new photos, not by stage 04

    def as_dict(self):
        return {"join_similarity": self.join, "group_similarity": self.group, "join_quantile": self.quantile,
                "first_opened_cluster": self.first_opened}

    @classmethod
    def from_dict(cls, record):
        """The thresholds as_dict wrote (before "first_opened_cluster" was kept, stage 04's k stood for it)."""
        return cls(record["join_similarity"], record["group_similarity"], record["join_quantile"],
                   record.get("first_opened_cluster", record.get("k_of_stage_04", 0)))


@dataclass
class Assignment:
    clusters: np.ndarray  # cluster of each new photo
    similarity: np.ndarray  # its cosine similarity to the centre of the cluster it matched best
    joined: np.ndarray  # True where it joined an existing cluster (one an earlier batch opened, too)


def centres(features, clusters):
    """(cluster labels, one unit-length centre row per label)."""
    labels, sums, _ = _cluster_sums(features, clusters)
    return labels, unit(sums)


def _cluster_sums(features, clusters):
    """(cluster labels, the sum of each cluster's rows, its number of rows)."""
    labels, codes = np.unique(clusters, return_inverse=True)
    sums = np.zeros((len(labels), features.shape[1]))
    np.add.at(sums, codes, features)
    return labels, sums, np.bincount(codes, minlength=len(labels))


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
    return Thresholds(join=join, group=float(np.quantile(np.concatenate(pairs), quantile)), quantile=quantile,
                      first_opened=int(clusters.max()) + 1)


def _pair_similarities(members, seed, most=PAIR_SAMPLE):
    """Cosine similarities of a cluster's photo pairs (of a seeded sample of `most` photos in a large one)."""
    if len(members) > most:
        members = members[np.random.default_rng(seed).choice(len(members), most, replace=False)]
    upper = np.triu_indices(len(members), k=1)
    return (members @ members.T)[upper]


def assign(features, clusters, new_features, thresholds):
    """Each new photo's cluster: an existing one it matches, or a new one numbered after max(clusters)."""
    features, new_features, clusters = unit(features), unit(new_features), np.asarray(clusters)
    labels, sums, sizes = _cluster_sums(features, clusters)
    similarities = new_features @ unit(sums).T
    best = similarities.argmax(axis=1)
    similarity = similarities[np.arange(len(new_features)), best]
    result = labels[best].copy()
    strangers = np.flatnonzero(similarity < thresholds.join)
    opened = labels >= thresholds.first_opened
    result[strangers] = _strangers_clusters(new_features[strangers], labels[opened], sums[opened], sizes[opened],
                                            thresholds.group, first_new=clusters.max() + 1)
    return Assignment(clusters=result, similarity=similarity, joined=result <= clusters.max())


def _strangers_clusters(strangers, numbers, sums, sizes, least_mean_similarity, first_new):
    """Cluster of each stranger: one an earlier batch opened (`numbers`, with their row sums and sizes),
    reached by average linkage, or a new one numbered from `first_new`."""
    if not len(strangers):
        return np.zeros(0, dtype=int)
    # a cluster no stranger reaches alone is out of reach: a mean is at most its largest term
    reachable = ((strangers @ sums.T) / sizes >= least_mean_similarity).any(axis=0)
    numbers, sums, sizes = numbers[reachable], sums[reachable], sizes[reachable]
    groups = _average_linkage(np.vstack([sums, strangers]), np.concatenate([sizes, np.ones(len(strangers))]),
                              len(numbers), least_mean_similarity)[len(numbers):]
    first_seen = {group: number for number, group in enumerate(dict.fromkeys(groups[groups >= len(numbers)]))}
    return np.array([numbers[group] if group < len(numbers) else first_new + first_seen[group] for group in groups])


def _average_linkage(sums, sizes, fixed, least_mean_similarity):
    """Group of each unit (a sum of unit vectors and its count): the index of a unit in it, fixed ones first.

    Groups merge, most similar first, while the mean similarity of their photo pairs is at least
    `least_mean_similarity`; the first `fixed` units (whole clusters) never merge with one another.
    """
    sums, sizes = sums.copy(), sizes.astype(float)
    is_fixed = np.arange(len(sizes)) < fixed
    similarity = (sums @ sums.T) / np.outer(sizes, sizes)
    similarity[np.ix_(is_fixed, is_fixed)] = -np.inf
    np.fill_diagonal(similarity, -np.inf)
    group = np.arange(len(sizes))
    while True:
        kept, gone = np.unravel_index(np.argmax(similarity), similarity.shape)
        if similarity[kept, gone] < least_mean_similarity:
            break
        kept, gone = (gone, kept) if is_fixed[gone] else (kept, gone)
        sums[kept] += sums[gone]
        sizes[kept] += sizes[gone]
        group[group == gone] = kept
        similarity[gone], similarity[:, gone] = -np.inf, -np.inf
        row = (sums @ sums[kept]) / (sizes * sizes[kept])
        row[(is_fixed & is_fixed[kept]) | (group != np.arange(len(group)))] = -np.inf  # or merged away
        row[kept] = -np.inf
        similarity[kept], similarity[:, kept] = row, row
    return group


def unit(features):
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or not np.isfinite(features).all():
        raise ValueError(f"features must be a finite 2-D array, got shape {features.shape}")
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
