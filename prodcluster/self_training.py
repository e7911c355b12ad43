"""Self-training: the clearest part of a run's clusters becomes pseudo-models for a second fine-tuning.

Stage 02 learns the known models only, yet the photos being clustered show many more models,
and stage 04 groups most of them right. Here each photo's margin is how much nearer it lies to
its own cluster's centre than to any other centre (cosines of unit vectors). The photos with the
widest margins, in clusters that keep at least MIN_PHOTOS of them, are taken as one pseudo-model
per cluster; a second network is then fine-tuned on the known models and the pseudo-models
together, and stages 03 and 04 run again with it (updates.self_train does the file work).
The pseudo-models' labels come from the clustering, not from names, so the scores do not count
them as seen.
"""
import numpy as np

from .assign import unit

CONFIDENT_SHARE = 0.5  # the half of the photos with the widest margins: a cluster's doubtful edge stays out
MIN_PHOTOS = 3  # a pseudo-model needs photos to compare with each other, and two may be a chance pair
PREFIX = "pseudo-"  # pseudo-model ids, apart from the ids in photo names


def margins(features, clusters):
    """Each photo's cosine to its cluster's centre minus its largest cosine to another cluster's centre."""
    clusters = np.asarray(clusters)
    vectors = unit(features)
    ids, own = np.unique(clusters, return_inverse=True)
    centres = unit(np.stack([vectors[own == index].mean(axis=0) for index in range(len(ids))]))
    cosines = vectors @ centres.T
    rows = np.arange(len(vectors))
    nearest_own = cosines[rows, own].copy()
    if len(ids) == 1:
        return nearest_own
    cosines[rows, own] = -np.inf
    return nearest_own - cosines.max(axis=1)


def pseudo_models(features, clusters, share=CONFIDENT_SHARE, min_photos=MIN_PHOTOS):
    """A pseudo-model id for each row ("" where left out): the rows whose margins are among the widest `share`,
    in clusters keeping at least `min_photos` of them."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share!r}")
    clusters = np.asarray(clusters)
    if not len(clusters):
        return np.zeros(0, dtype=object)
    spread = margins(features, clusters)
    chosen = spread >= np.quantile(spread, 1 - share)
    kept, counts = np.unique(clusters[chosen], return_counts=True)
    chosen &= np.isin(clusters, kept[counts >= min_photos])
    return np.array([f"{PREFIX}{cluster}" if keep else "" for cluster, keep in zip(clusters, chosen)], dtype=object)
