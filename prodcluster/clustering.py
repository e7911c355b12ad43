"""Group feature vectors and predict how many groups there are.

The default method ("som") follows Vesanto & Alhoniemi (2000): a Self-Organising Map
(MiniSom, 5*sqrt(N) nodes, PCA-initialised, trained on N/4 principal components) condenses
the images into prototype vectors; Ward (each node weighted by its images) and average linkage
build hierarchies over them, and the one whose cuts separate a sample of the images better is
cut where an internal criterion is best, so k comes from the data, not from the grid; KMeans
on the full vectors then settles images the map placed near a border. The criterion (default
"silhouette+modularity") is the larger k of the cosine silhouette's choice (the most clusters
near its top on average linkage's cuts) and the kNN-graph modularity's (the fewest on its flat
top). Three maps are trained from consecutive seeds, and photos share a cluster only where every
map puts them together, unless that agreement separates the photos clearly worse than the most
typical map does; then the best-separating map stands. Measurements: docs/decisions.md.

The other methods are baselines: "som_nodes" (the 2019 rule: every node of a grid sized
round(sqrt(2N/70)) is a cluster), "kmeans" (k = N/70 unless given), "agglomerative" (Ward on a
sample of the images, k by the same criterion), "hdbscan" (noise images join the nearest
cluster centre) and "reference" (unit vectors, PCA to 100 dimensions, KMeans at each k of a
grid, k by the best cosine silhouette).
"""
from dataclasses import dataclass, field

import numpy as np
from minisom import MiniSom
from sklearn.cluster import HDBSCAN, KMeans, linkage_tree, ward_tree
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, pairwise_distances_argmin, silhouette_score
from sklearn.metrics.pairwise import cosine_distances, euclidean_distances
from sklearn.neighbors import kneighbors_graph

from .arrays import checked_features, sample_rows
from .settings import AGREED_MAPS, DEFAULTS, check_whole

IMAGES_PER_NODE_2019 = 70
IMAGES_PER_COMPONENT = 4
MIN_AUTO_COMPONENTS = 16
MAX_AUTO_COMPONENTS = 256
MIN_MEAN_CLUSTER_SIZE = 3  # candidate k stop at N/3 (and at max_k)
PCA_SAMPLE = 20_000  # most vectors the PCA is fitted on: above every benchmark set, whose results stay as they were

_SOM_TRAINING = {
    "pca_components": "auto",  # N/4 principal components, 16 to 256; or a number; None: full vectors
    "sigma": DEFAULTS.som_sigma,
    "learning_rate": DEFAULTS.som_learning_rate,
    "iterations_per_image": DEFAULTS.som_iterations_per_image,
    "max_iterations": 50_000,
}
_K_CHOICE = {
    "criterion": DEFAULTS.k_criterion,  # a name of CRITERIA, or several joined by "+": the largest k wins
    "max_k": 300,
    "sample_size": 2000,  # criteria are computed on a seeded sample of this many images
    "n_neighbors": 10,  # for the k-nearest-neighbour graph of the modularity criterion
    "resolution": 1.5,  # modularity: above 1 favours more, smaller groups
    "modularity_tie": 0.005,  # modularity values this share below the best tie with it; the fewest clusters win
    "silhouette_tie": 0.0,  # silhouettes this share below the best tie with it; the most clusters win (0: off)
}
SOM_DEFAULTS = {
    **_SOM_TRAINING,
    "nodes_per_sqrt_n": 5.0,  # MiniSom's rule of thumb: 5 * sqrt(N) nodes
    "max_nodes": 1000,
    "linkage": "ward+average",  # over the nodes ("ward" weighs each by its images); "+": the best silhouette wins
    "linkage_tie": 0.02,  # a later linkage must beat the best silhouette so far by this share: less is noise of the map
    "average_silhouette_tie": 0.0075,  # silhouette_tie of average linkage's cuts, kept where sizes are uneven
    "refine": True,  # after the cut, KMeans on the full vectors from the clusters' means
    "cap_k": False,  # a given k above the nodes holding images: False raises, True takes one cluster per such node
    "maps": AGREED_MAPS,  # trained from seeds seed, seed+1, ...: photos share a cluster where all agree
    "agreement_support": 0.25,  # a group the maps agree on stands where one map gave it this share of a cluster
    "agreement_tie": 0.25,  # the agreement stands unless its silhouette is this share below the typical map's
    **_K_CHOICE,
}
SOM_NODES_DEFAULTS = dict(_SOM_TRAINING)
KMEANS_DEFAULTS = {"n_init": 4}
AGGLOMERATIVE_DEFAULTS = dict(_K_CHOICE)
HDBSCAN_DEFAULTS = {"min_cluster_size": 5, "min_samples": None}
REFERENCE_DEFAULTS = {
    "pca_components": 100,
    "max_k": 300,
    "sample_size": 2000,  # the silhouette is computed on a seeded sample of this many images
    "dense_k": 30,  # every k up to this one is tried, then k grows by `k_step` a time
    "k_step": 1.1,
}


@dataclass
class ClusterResult:
    """One clustering of N images.

    labels: cluster of each image, 0..k-1 from the largest cluster down. k_criterion: how
    k was set (the deciding criterion, "given", ...); criterion_curve: {k: value} of that
    criterion over the candidate k; criterion_curves: {criterion: (the k it chose alone, its
    curve)} for each of the criteria joined by "+". som_weights (rows x cols x D, in feature space) and
    node_labels exist for map methods: the cluster of each node (for "som", that of the
    nearest cluster centre; for "som_nodes", nodes without images get numbers from k up).
    settings: every option used, plus what was derived (grid, iterations, PCA size, seed).
    """

    labels: np.ndarray
    k: int
    method: str
    k_criterion: str | None = None
    criterion_curve: dict | None = None
    criterion_curves: dict = field(default_factory=dict)  # every criterion's curve and own k: {name: (k, curve)}
    som_weights: np.ndarray | None = None
    node_labels: np.ndarray | None = None
    settings: dict = field(default_factory=dict)


def cluster(features, method=DEFAULTS.cluster_method, seed=DEFAULTS.seed, k=None, **options):
    """Cluster the rows of `features` (N x D). With k=None the method predicts k.

    Options depend on the method (see SOM_DEFAULTS, SOM_NODES_DEFAULTS, KMEANS_DEFAULTS,
    AGGLOMERATIVE_DEFAULTS, HDBSCAN_DEFAULTS); unknown ones raise ValueError.
    """
    if method not in METHODS:
        raise ValueError(f"unknown clustering method {method!r}; choose one of {sorted(METHODS)}")
    data = checked_features(features)
    if check_whole(k, "k", optional=True) is not None and k > len(data):
        raise ValueError(f"k must be at most the number of images ({len(data)}), got {k!r}")
    run, defaults = METHODS[method]
    settings = _merged_options(method, defaults, options)
    if "criterion" in settings and not set(settings["criterion"].split("+")) <= set(CRITERIA):
        raise ValueError(f"unknown criterion {settings['criterion']!r}; choose one of {sorted(CRITERIA)}, "
                         "or several joined by '+'")
    if "maps" in settings:
        check_whole(settings["maps"], "maps")
    for name in ("modularity_tie", "silhouette_tie", "linkage_tie", "average_silhouette_tie", "agreement_support",
                 "agreement_tie"):
        tie = settings.get(name, 0.0)
        if isinstance(tie, bool) or not isinstance(tie, (int, float)) or not 0 <= tie < 1:
            raise ValueError(f"{name} must be a share from 0 to below 1, got {tie!r}")
    result = run(data, seed, k, settings)
    result.settings.update(seed=seed, n_images=len(data), n_dimensions=data.shape[1])
    return result


def _merged_options(method, defaults, options):
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for method {method!r}; allowed: {sorted(defaults)}")
    return {**defaults, **options}


# --- method "som": map, hierarchy over its nodes, k chosen by a criterion ----------------


def _cluster_som(data, seed, k, settings):
    if k is not None or settings["maps"] == 1:
        return _one_map(data, seed, k, settings)
    maps = [_one_map(data, seed + offset, None, dict(settings)) for offset in range(settings["maps"])]
    return _agreement(data, maps, sample_rows(len(data), settings["sample_size"], seed),
                      settings["agreement_support"], settings["agreement_tie"])


def _agreement(data, maps, sample, least_support=SOM_DEFAULTS["agreement_support"],
               tie=SOM_DEFAULTS["agreement_tie"]):
    """What the maps agree on: the typical map (the one most like the others, by ARI), cut where the others cut.

    One map's count moves with its seed, and where groups are uneven each map merges other
    small models; the groups no map merges with another are what the data separates. The
    agreement is kept unless its silhouette falls more than `tie` (a share) below the typical
    map's: then the maps disagree on the scale itself, and the map with the best silhouette
    stands (the typical one follows whichever two maps agree, and a seed's noise picks which).
    The kept agreement has the typical map's pictures; each node joins the nearest agreed
    cluster. The measurements are in docs/decisions.md.
    """
    all_labels = np.stack([result.labels for result in maps])
    index = int(np.argmax([sum(adjusted_rand_score(a, b) for b in all_labels) for a in all_labels]))
    agreed = agreed_groups(all_labels, least_support)
    silhouettes = _silhouettes(cosine_distances(data[sample]),
                               {"agreed": agreed[sample], **{n: labels[sample] for n, labels in enumerate(all_labels)}})
    maps_silhouette = [silhouettes[number] for number in range(len(maps))]
    typical_silhouette = maps_silhouette[index]
    kept = silhouettes["agreed"] >= typical_silhouette - tie * abs(typical_silhouette)
    standing_index = index if kept else int(np.argmax(maps_silhouette))
    standing = maps[standing_index]
    standing.settings["agreement"] = {
        "maps_k": [result.k for result in maps], "typical_map": index, "standing_map": standing_index,
        "k": int(agreed.max()) + 1, "kept": bool(kept), "agreed_silhouette": round(silhouettes["agreed"], 4),
        "typical_silhouette": round(typical_silhouette, 4),
        "maps_silhouette": [round(value, 4) for value in maps_silhouette]}
    if kept:
        grid = standing.node_labels.shape
        node_labels = pairwise_distances_argmin(standing.som_weights.reshape(-1, data.shape[1]), _means(data, agreed))
        standing.labels, node_labels = numbered_by_size(agreed, node_labels)
        standing.node_labels, standing.k = node_labels.reshape(grid), int(agreed.max()) + 1
    return standing


def agreed_groups(all_labels, least_support=SOM_DEFAULTS["agreement_support"]):
    """Group labels (0..g-1) on which every row of `all_labels` (one clustering per row) agrees.

    Photos that every clustering puts together form a group. A group no clustering gave at
    least `least_support` of one of its clusters is a sliver where the clusterings cut one
    group in different places; it joins the group it shares most clusterings' clusters with
    (the largest on ties).
    """
    combos, groups = np.unique(np.asarray(all_labels).T, axis=0, return_inverse=True)
    groups, sizes = groups.ravel(), np.bincount(groups.ravel())
    support = np.max([sizes / np.bincount(labels)[combos[:, row]] for row, labels in enumerate(all_labels)], axis=0)
    strong = np.flatnonzero(support >= least_support)
    if not len(strong):
        strong = np.array([np.argmax(sizes)])
    shared = (combos[:, None, :] == combos[None, strong, :]).sum(axis=2)  # a strong group shares most with itself
    joins = strong[np.argmax(shared * (len(groups) + 1) + sizes[strong], axis=1)]
    return np.unique(joins[groups], return_inverse=True)[1].ravel()


def _one_map(data, seed, k, settings):
    reduced, pca = _reduced(data, settings["pca_components"], seed)
    rows, cols = _grid_shape(len(data), settings["nodes_per_sqrt_n"], settings["max_nodes"])
    som, settings["iterations"] = _trained_som(reduced, rows, cols, seed, settings)
    weights = som.get_weights().reshape(rows * cols, -1)
    bmu = pairwise_distances_argmin(reduced, weights)
    hits = np.bincount(bmu, minlength=len(weights))
    occupied = int(np.count_nonzero(hits))
    if k is not None and k > occupied:
        if not settings["cap_k"]:
            raise ValueError(f"the images fall on {occupied} of the map's {rows * cols} nodes, too few for {k} "
                             "clusters; give a smaller k, or raise nodes_per_sqrt_n or max_nodes")
        settings["k_capped_from"], k = k, occupied
    sample = sample_rows(len(data), settings["sample_size"], seed)
    choices = [_cut_choice(data[sample], bmu[sample], _node_hierarchy_cuts(weights, hits, linkage), k,
                           _largest_k(len(data), settings), _linkage_settings(settings, linkage))
               for linkage in settings["linkage"].split("+")]
    best = kept_hierarchy([choice[0] for choice in choices], settings["linkage_tie"])
    _, partitions, k, criterion, curve, curves = choices[best]
    settings["linkage_chosen"] = settings["linkage"].split("+")[best]
    som_weights = _in_feature_space(som.get_weights(), pca)
    node_labels = partitions[k]
    labels = node_labels[bmu]
    if settings["refine"]:
        labels, centres = _refined(data, labels, seed)
        node_labels = pairwise_distances_argmin(som_weights.reshape(rows * cols, -1), centres)
    labels, node_labels = numbered_by_size(labels, node_labels)
    settings.update(grid=[rows, cols], pca_components=None if pca is None else pca.n_components_)
    return ClusterResult(
        labels=labels,
        k=k,
        method="som",
        k_criterion=criterion,
        criterion_curve=curve,
        criterion_curves=curves,
        som_weights=som_weights,
        node_labels=node_labels.reshape(rows, cols),
        settings=settings,
    )


def _cut_choice(sample_data, sample_bmu, partitions, k, largest_k, settings):
    """(best sample silhouette, partitions, k, criterion, curve, curves) for one hierarchy's cuts.

    The silhouette compares hierarchies: where group sizes are uneven, Ward over the nodes
    splits large groups before it separates small ones and average linkage does not; where
    sizes are even, Ward's cuts are the better ones (docs/decisions.md).
    """
    sample_labels = {count: node_labels[sample_bmu] for count, node_labels in partitions.items()}
    if k is None:
        k, criterion, curve, curves = _choose_k(sample_data, sample_labels, largest_k, settings)
        silhouettes = curves["silhouette"][1] if "silhouette" in curves else None
    else:
        curve, criterion, curves, silhouettes = None, "given", {}, None
        sample_labels = {k: sample_labels[k]}
    silhouettes = silhouettes or _silhouette_curve(sample_data, sample_labels, settings)
    return max(silhouettes.values(), default=-1.0), partitions, k, criterion, curve, curves


def _linkage_settings(settings, linkage):
    """Average linkage's cuts are chosen with their own silhouette tie.

    Average linkage is kept where group sizes are uneven, and there the silhouette's exact top
    merges small models into larger ones (docs/decisions.md).
    """
    if linkage != "average":
        return settings
    return {**settings, "silhouette_tie": settings["average_silhouette_tie"]}


def kept_hierarchy(best_silhouettes, tie):
    """Index of the hierarchy kept: a later one must beat the best so far by `tie` x its silhouette."""
    best = 0
    for index, silhouette in enumerate(best_silhouettes[1:], start=1):
        if silhouette > best_silhouettes[best] + tie * abs(best_silhouettes[best]):
            best = index
    return best


def _reduced(data, n_components, seed):
    """PCA-reduce the vectors for the map; criteria always see the full vectors.

    The components are fitted on a seeded sample of PCA_SAMPLE vectors at most, so the fit costs
    the same at any N and only the projection grows with it."""
    if n_components == "auto":
        n_components = int(np.clip(len(data) // IMAGES_PER_COMPONENT, MIN_AUTO_COMPONENTS, MAX_AUTO_COMPONENTS))
    if n_components is None or n_components >= min(data.shape):
        return data, None
    pca = PCA(n_components=n_components, svd_solver="randomized", random_state=seed)
    if len(data) <= PCA_SAMPLE:  # fit_transform: randomized PCA's own projection, as every benchmark measured
        return pca.fit_transform(data).astype(np.float32), pca
    pca.fit(data[sample_rows(len(data), PCA_SAMPLE, seed)])
    return pca.transform(data).astype(np.float32), pca


def _in_feature_space(weights, pca):
    if pca is not None:
        weights = pca.inverse_transform(weights.reshape(-1, weights.shape[-1])).reshape(*weights.shape[:2], -1)
    return weights.astype(np.float32)


def _grid_shape(n_images, nodes_per_sqrt_n, max_nodes):
    nodes = int(np.clip(round(nodes_per_sqrt_n * np.sqrt(n_images)), 4, max_nodes))
    rows = int(np.sqrt(nodes))
    return rows, int(np.ceil(nodes / rows))


def _trained_som(data, rows, cols, seed, settings):
    """Return a trained map and its number of iterations (one image each)."""
    som = MiniSom(
        rows, cols, data.shape[1], sigma=settings["sigma"], learning_rate=settings["learning_rate"], random_seed=seed
    )
    if min(rows, cols) > 1 and data.shape[1] > 1:
        som.pca_weights_init(data)
    else:
        som.random_weights_init(data)
    iterations = int(min(settings["iterations_per_image"] * len(data), settings["max_iterations"]))
    # train_batch visits the rows in order, and image lists come sorted by model: shuffle first.
    order = np.random.default_rng(seed).permutation(len(data))
    som.train_batch(data[order], max(iterations, 1))
    return som, iterations


def _node_hierarchy_cuts(weights, hits, linkage):
    """Cluster of every node at every cut of a hierarchy over the nodes that hold images: {k: node labels}.

    Ward merges nodes as the groups of images they stand for (a node holding many images
    weighs more); image-free nodes, which the map stretches between groups, take the
    cluster of the nearest node that holds images.
    """
    held = np.flatnonzero(hits)
    if linkage == "ward":
        children = _weighted_ward_tree(weights[held], hits[held])
    elif linkage == "average":
        children = linkage_tree(weights[held], linkage="average")[0] if len(held) > 1 else np.empty((0, 2), int)
    else:
        raise ValueError(f"linkage must be 'ward' or 'average', got {linkage!r}")
    owner = np.empty(len(weights), dtype=int)
    owner[held] = np.arange(len(held))
    empty = np.flatnonzero(hits == 0)
    if len(empty):
        owner[empty] = pairwise_distances_argmin(weights[empty], weights[held])
    return {count: labels[owner] for count, labels in _tree_cuts(children, len(held)).items()}


def _weighted_ward_tree(centres, sizes):
    """Ward's merges of points that each stand for `sizes` images, as sklearn's ward_tree children.

    Each step joins the pair of clusters whose merge adds least to the within-cluster sum
    of squares of the images: n_a n_b / (n_a + n_b) |c_a - c_b|^2.
    """
    n_points = len(centres)
    centres, sizes = centres.astype(np.float64), sizes.astype(np.float64)
    cost = _ward_costs(centres, sizes, centres, sizes)
    np.fill_diagonal(cost, np.inf)
    tree_ids = np.arange(n_points)
    still_open = np.ones(n_points, dtype=bool)
    children = np.empty((max(n_points - 1, 0), 2), dtype=int)
    for step in range(n_points - 1):
        a, b = sorted(np.unravel_index(np.argmin(cost), cost.shape))
        children[step] = tree_ids[a], tree_ids[b]
        centres[a] = (sizes[a] * centres[a] + sizes[b] * centres[b]) / (sizes[a] + sizes[b])
        sizes[a] += sizes[b]
        tree_ids[a] = n_points + step
        still_open[b] = False
        peers = still_open.copy()
        peers[a] = False
        row = np.full(n_points, np.inf)
        if peers.any():
            row[peers] = _ward_costs(centres[a:a + 1], sizes[a:a + 1], centres[peers], sizes[peers])[0]
        cost[b, :] = cost[:, b] = np.inf
        cost[a, :] = cost[:, a] = row
    return children


def _ward_costs(centres_a, sizes_a, centres_b, sizes_b):
    squared = euclidean_distances(centres_a, centres_b, squared=True)
    return sizes_a[:, None] * sizes_b[None, :] / (sizes_a[:, None] + sizes_b[None, :]) * squared


def _refined(data, labels, seed):
    """KMeans on the full vectors, started from the means of the given clusters: (labels, centres)."""
    centres = _means(data, labels)
    kmeans = KMeans(len(centres), init=centres, n_init=1, random_state=seed).fit(data)
    return kmeans.labels_, kmeans.cluster_centers_


def _means(data, labels):
    """One row per label, in sorted order: the mean of its rows of `data`."""
    return np.stack([data[labels == cluster].mean(axis=0) for cluster in np.unique(labels)])


def _tree_cuts(children, n_leaves, keep=None):
    """Replay the merges of a binary tree; return leaf labels at each cluster count in `keep`."""
    labels = np.arange(n_leaves)
    members = {leaf: [leaf] for leaf in range(n_leaves)}
    cuts = {n_leaves: labels.copy()} if keep is None or n_leaves in keep else {}
    for step, (left, right) in enumerate(children):
        merged = members.pop(left) + members.pop(right)
        members[n_leaves + step] = merged
        labels[merged] = n_leaves + step
        if keep is None or n_leaves - step - 1 in keep:
            cuts[n_leaves - step - 1] = labels.copy()
    return cuts


def numbered_by_size(labels, node_labels):
    """Renumber so image clusters run 0..k-1 by decreasing size; node groups without images follow.

    Returns (image labels, node labels) in the new numbering.
    """
    values, first_seen, counts = np.unique(labels, return_index=True, return_counts=True)
    order = values[np.lexsort((first_seen, -counts))]
    empty = np.setdiff1d(np.unique(node_labels), values)
    new_number = {old: new for new, old in enumerate(np.concatenate([order, empty]))}
    return np.array([new_number[label] for label in labels]), np.array([new_number[label] for label in node_labels])


# --- method "som_nodes": the 2019 rule ---------------------------------------------------


def _cluster_som_nodes(data, seed, k, settings):
    if k is not None:
        raise ValueError("method 'som_nodes' takes no k: the grid size fixes it")
    reduced, pca = _reduced(data, settings["pca_components"], seed)
    side = max(1, round(np.sqrt(2 * len(data) / IMAGES_PER_NODE_2019)))
    som, settings["iterations"] = _trained_som(reduced, side, side, seed, settings)
    bmu = pairwise_distances_argmin(reduced, som.get_weights().reshape(side * side, -1))
    labels, node_labels = numbered_by_size(bmu, np.arange(side * side))
    settings.update(grid=[side, side], pca_components=None if pca is None else pca.n_components_)
    return ClusterResult(
        labels=labels,
        k=int(labels.max()) + 1,
        method="som_nodes",
        k_criterion="grid nodes with images",
        som_weights=_in_feature_space(som.get_weights(), pca),
        node_labels=node_labels.reshape(side, side),
        settings=settings,
    )


# --- baselines on the data itself --------------------------------------------------------


def _cluster_kmeans(data, seed, k, settings):
    criterion = "given"
    if k is None:
        k, criterion = min(len(data), max(1, round(len(data) / IMAGES_PER_NODE_2019))), "N/70"
    labels = KMeans(n_clusters=k, n_init=settings["n_init"], random_state=seed).fit_predict(data)
    return _plain_result(labels, "kmeans", criterion, None, settings)


def _cluster_agglomerative(data, seed, k, settings):
    """Ward on a seeded sample; the other images join the nearest cluster centre."""
    sample = sample_rows(len(data), settings["sample_size"], seed)
    if k is not None and k > len(sample):
        raise ValueError(f"k={k} exceeds the {len(sample)} images sampled; raise sample_size")
    largest_k = _largest_k(len(data), settings)
    wanted = set(range(1, largest_k + 1)) if k is None else {k}
    cuts = _tree_cuts(ward_tree(data[sample])[0], len(sample), keep=wanted)
    if k is None:
        k, criterion, curve, curves = _choose_k(data[sample], cuts, largest_k, settings)
    else:
        curve, criterion, curves = None, "given", {}
    labels = _nearest_centre_labels(data, sample, cuts[k])
    return _plain_result(labels, "agglomerative", criterion, curve, settings, curves)


def _cluster_hdbscan(data, seed, k, settings):
    if k is not None:
        raise ValueError("method 'hdbscan' takes no k: it finds the clusters itself")
    found = HDBSCAN(
        min_cluster_size=settings["min_cluster_size"], min_samples=settings["min_samples"], copy=True
    ).fit_predict(data)
    clustered = np.flatnonzero(found >= 0)
    settings["noise_images"] = int(len(data) - len(clustered))
    if len(clustered) == 0:
        labels = np.zeros(len(data), dtype=int)
    else:
        labels = _nearest_centre_labels(data, clustered, found[clustered])
    return _plain_result(labels, "hdbscan", "hdbscan", None, settings)


def _cluster_reference(data, seed, k, settings):
    """The simple method anyone would try first, kept as a comparator: unit vectors, PCA,
    KMeans for each k on a grid, k by the best mean cosine silhouette (on a sample)."""
    unit = data / np.maximum(np.linalg.norm(data, axis=1, keepdims=True), 1e-12)
    reduced, _ = _reduced(unit, settings["pca_components"], seed)
    if k is not None:
        labels = KMeans(n_clusters=k, random_state=seed).fit_predict(reduced)
        return _plain_result(labels, "reference", "given", None, settings)
    sample = sample_rows(len(data), settings["sample_size"], seed)
    distances = cosine_distances(reduced[sample])
    curve, fits = {}, {}
    for count in _k_grid(min(_largest_k(len(data), settings), len(sample) - 1), settings):
        fits[count] = KMeans(n_clusters=count, random_state=seed).fit_predict(reduced)
        curve[count] = _silhouettes(distances, {count: fits[count][sample]})[count]
    if not curve:
        return _plain_result(np.zeros(len(data), dtype=int), "reference", "silhouette", {}, settings)
    best = max(curve, key=lambda count: (curve[count], -count))
    return _plain_result(fits[best], "reference", "silhouette", curve, settings)


def _k_grid(largest_k, settings):
    """2 .. dense_k one by one, then steps of k_step, up to largest_k."""
    grid = list(range(2, min(settings["dense_k"], largest_k) + 1))
    while grid and grid[-1] < largest_k:
        grid.append(min(largest_k, max(grid[-1] + 1, round(grid[-1] * settings["k_step"]))))
    return grid


def _nearest_centre_labels(data, labelled, labels):
    """Give every image the cluster whose centre (mean of its labelled images) is nearest."""
    dense = np.unique(labels, return_inverse=True)[1].ravel()
    result = pairwise_distances_argmin(data, _means(data[labelled], dense))
    result[labelled] = dense
    return result


def _plain_result(labels, method, criterion, curve, settings, curves=None):
    labels = numbered_by_size(np.asarray(labels), np.asarray(labels))[0]
    return ClusterResult(
        labels=labels,
        k=int(labels.max()) + 1,
        method=method,
        k_criterion=criterion,
        criterion_curve=curve,
        criterion_curves=curves or {},
        settings=settings,
    )


# --- choice of k ------------------------------------------------------------------------


def _largest_k(n_images, settings):
    return max(2, min(settings["max_k"], n_images // MIN_MEAN_CLUSTER_SIZE))


def _choose_k(sample_data, labels_by_k, largest_k, settings):
    """Pick k by the criterion, or the largest k of several.

    Returns (k, name of the deciding criterion, its curve, {name: (own k, curve)} of every criterion).

    Each criterion's k is the one whose sample labelling it likes best (the smallest on ties);
    for modularity the fewest clusters and for the silhouette the most among values within
    `modularity_tie` or `silhouette_tie` of the best.
    """
    names = settings["criterion"].split("+")
    candidates = [count for count in sorted(labels_by_k) if 2 <= count <= min(largest_k, len(sample_data) - 1)]
    if not candidates:
        return min(labels_by_k), names[0], {}, {}
    choices = []
    for name in names:
        score, better, tie_option, among_near = CRITERIA[name]
        curve = score(sample_data, {count: labels_by_k[count] for count in candidates}, settings)
        tie = settings[tie_option] if tie_option else 0.0
        choices.append((_near_best(curve, better, tie, among_near), name, curve))
    k, name, curve = max(choices, key=lambda choice: choice[0])
    return k, name, curve, {other: (own_k, other_curve) for own_k, other, other_curve in choices}


def _near_best(curve, better, tie, among_near=min):
    """The smallest (`among_near=min`) or largest k whose value is within `tie` x |best value| of the best.

    Both criteria have flat tops whose exact maximum is noise of the sample. Modularity's is
    broad (Good, de Montjoye & Clauset, 2010) and takes the fewest clusters; the silhouette
    merges small groups first where group sizes are uneven, so among near-equal values it
    takes the most.
    """
    best = better(curve.values())
    gap = (lambda value: best - value) if better is max else (lambda value: value - best)
    return among_near(count for count, value in curve.items() if gap(value) <= tie * abs(best))


def _silhouette_curve(sample_data, labels_by_k, settings):
    return _silhouettes(cosine_distances(sample_data), labels_by_k)


def _silhouettes(distances, labels_by_k):
    return {
        count: float(silhouette_score(distances, labels, metric="precomputed")) if _splits(labels) else -1.0
        for count, labels in labels_by_k.items()
    }


def _splits(labels):
    """Whether a sample labelling has between 2 and n-1 distinct clusters."""
    return 2 <= len(np.unique(labels)) < len(labels)


def _neighbour_graph(sample_data, settings):
    """Symmetric k-nearest-neighbour graph of the sample (cosine), 0/1 edge weights."""
    n_neighbors = min(settings["n_neighbors"], len(sample_data) - 1)
    graph = kneighbors_graph(sample_data, n_neighbors, metric="cosine", include_self=False)
    return graph.maximum(graph.T)


def _modularity_curve(sample_data, labels_by_k, settings):
    """Newman's modularity of each labelling on the kNN graph, at the configured resolution.

    Share of edge weight inside clusters minus resolution x its expected share for random
    edges with the same degrees.
    """
    graph = _neighbour_graph(sample_data, settings).tocoo()
    degrees = np.asarray(graph.sum(axis=1)).ravel()
    total = degrees.sum()
    curve = {}
    for count, labels in labels_by_k.items():
        inside = graph.data[labels[graph.row] == labels[graph.col]].sum() / total
        expected = np.sum((np.bincount(labels, weights=degrees) / total) ** 2)
        curve[count] = float(inside - settings["resolution"] * expected)
    return curve


CRITERIA = {
    "silhouette": (_silhouette_curve, max, "silhouette_tie", max),
    "modularity": (_modularity_curve, max, "modularity_tie", min),
}

METHODS = {
    "som": (_cluster_som, SOM_DEFAULTS),
    "som_nodes": (_cluster_som_nodes, SOM_NODES_DEFAULTS),
    "kmeans": (_cluster_kmeans, KMEANS_DEFAULTS),
    "agglomerative": (_cluster_agglomerative, AGGLOMERATIVE_DEFAULTS),
    "hdbscan": (_cluster_hdbscan, HDBSCAN_DEFAULTS),
    "reference": (_cluster_reference, REFERENCE_DEFAULTS),
}


# --- picture ----------------------------------------------------------------------------
