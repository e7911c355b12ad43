"""Optional changes to the feature vectors of the photos being clustered, before stage 04 groups them.

Both are off by default: each helped on some protocols of the suite and hurt on others
(docs/decisions.md).

- Neighbour expansion: each unit vector plus those of its nearest neighbours among the photos,
  made unit length again (average query expansion, Chum et al., 2007), which pulls photos
  of one model together where neighbours agree.
- Whitening: the leading principal components, each divided by the square root of its
  standard deviation (a shrunk whitening, Jégou & Chum, 2012), made unit length again, so
  directions of small variance count more without their noise taking over.
"""
import numpy as np
from sklearn.decomposition import PCA
from sklearn.neighbors import kneighbors_graph
from sklearn.preprocessing import normalize

from .settings import check_whole

WHITENING_POWER = 0.5  # variances are divided by their square root: halfway to full whitening


def refined(features, neighbours=0, whiten_components=0, seed=0):
    """`features` with the neighbour expansion and the whitening applied, where asked for (0: off)."""
    check_whole(neighbours, "neighbours", 0)
    check_whole(whiten_components, "whiten_components", 0)
    vectors = normalize(np.asarray(features, dtype=np.float32))
    if neighbours:
        vectors = expanded_by_neighbours(vectors, neighbours)
    if whiten_components:
        vectors = whitened(vectors, whiten_components, seed)
    return vectors


def expanded_by_neighbours(vectors, neighbours):
    """Each unit vector plus its `neighbours` nearest others, made unit length again."""
    graph = kneighbors_graph(vectors, min(neighbours, len(vectors) - 1), include_self=False)
    return normalize(vectors + graph @ vectors)


def whitened(vectors, components, seed=0):
    """The leading principal components with their variances shrunk to the square root, made unit length."""
    pca = PCA(n_components=min(components, *vectors.shape), random_state=seed).fit(vectors)
    scale = np.maximum(pca.explained_variance_, np.finfo(np.float32).tiny) ** (WHITENING_POWER / 2)
    return normalize(pca.transform(vectors) / scale).astype(np.float32)
