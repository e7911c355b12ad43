import numpy as np
import pytest
from sklearn.cluster import ward_tree
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score, pairwise_distances_argmin

from prodcluster import clustering
from prodcluster.visual import plot_k_criterion
from prodcluster.clustering import (
    CRITERIA,
    METHODS,
    _near_best,
    _node_hierarchy_cuts,
    _tree_cuts,
    _weighted_ward_tree,
    cluster,
)


def separated_blobs(sizes, dim=48, seed=0):
    """L2-normalised, well-separated groups; rows sorted by group like a real image list."""
    centres = np.random.default_rng(seed).standard_normal((len(sizes), dim))
    features, labels = make_blobs(n_samples=sizes, centers=centres, cluster_std=0.15, random_state=seed)
    order = np.argsort(labels, kind="stable")
    features = features[order] / np.linalg.norm(features[order], axis=1, keepdims=True)
    return features.astype(np.float32), labels[order]


@pytest.fixture(scope="module")
def few_large():
    return separated_blobs([60] * 4)


@pytest.fixture(scope="module")
def many_small():
    return separated_blobs(np.random.default_rng(1).integers(5, 13, size=30).tolist(), seed=1)


@pytest.fixture(scope="module")
def few_large_result(few_large):
    return cluster(few_large[0])


@pytest.fixture(scope="module")
def many_small_result(many_small):
    return cluster(many_small[0])


@pytest.mark.parametrize("regime", ["few_large", "many_small"])
def test_som_predicts_the_number_of_separated_groups(regime, request):
    labels = request.getfixturevalue(regime)[1]
    result = request.getfixturevalue(f"{regime}_result")
    assert result.k == len(np.unique(labels))
    assert adjusted_rand_score(labels, result.labels) == pytest.approx(1.0)
    assert result.k_criterion == "silhouette"
    assert result.criterion_curve[result.k] == max(result.criterion_curve.values())


def nested_groups(n_coarse=2, n_fine=4, size=25, dim=48, seed=0):
    """Fine groups inside far-apart coarse groups, like models inside product kinds."""
    rng = np.random.default_rng(seed)
    coarse = 10.0 * rng.standard_normal((n_coarse, dim))
    fine = coarse.repeat(n_fine, axis=0) + 1.5 * rng.standard_normal((n_coarse * n_fine, dim))
    labels = np.arange(n_coarse * n_fine).repeat(size)
    features = fine[labels] + 0.5 * rng.standard_normal((len(labels), dim))
    return features.astype(np.float32), labels


@pytest.mark.parametrize("criterion", ["silhouette+modularity", "modularity"])
def test_fine_groups_are_found_where_the_silhouette_stops_at_the_coarse_split(criterion):
    features, labels = nested_groups()
    assert cluster(features, criterion="silhouette", maps=1).k == 2  # one map: these tests are about its cut
    result = cluster(features, criterion=criterion, maps=1)
    assert result.k == 8
    assert result.k_criterion == criterion.split("+")[-1]
    assert adjusted_rand_score(labels, result.labels) == pytest.approx(1.0)


def test_combined_criteria_keep_the_larger_k_with_the_curve_that_chose_it(few_large):
    silhouette_only = cluster(few_large[0], criterion="silhouette", maps=1)
    combined = cluster(few_large[0], criterion="silhouette+modularity", maps=1)
    assert combined.k == silhouette_only.k == 4  # a tie goes to the first named criterion
    assert combined.k_criterion == "silhouette" and combined.criterion_curve == silhouette_only.criterion_curve


@pytest.mark.parametrize("resolution, two_pairs, one_pair_split", [(1.0, 0.5, 0.125), (1.5, 0.25, -0.0625)])
def test_modularity_of_two_separate_pairs_matches_the_hand_computed_value(resolution, two_pairs, one_pair_split):
    pairs = np.array([[1.0, 0.0], [0.99, 0.01], [0.0, 1.0], [0.01, 0.99]], dtype=np.float32)
    modularity_curve = CRITERIA["modularity"][0]
    curve = modularity_curve(pairs, {2: np.array([0, 0, 1, 1]), 3: np.array([0, 1, 2, 2])},
                             {"n_neighbors": 1, "resolution": resolution})
    # edges a-a' and b-b', every degree 1: inside share 1 (then 1/2), expected share 1/2 (then 3/8)
    assert curve[2] == pytest.approx(two_pairs)
    assert curve[3] == pytest.approx(one_pair_split)


def test_som_labels_every_image_numbered_by_decreasing_size(many_small_result, many_small):
    result = many_small_result
    assert result.labels.shape == (len(many_small[0]),)
    assert set(result.labels) == set(range(result.k))
    sizes = np.bincount(result.labels)
    assert (np.diff(sizes) <= 0).all()


def test_som_result_describes_its_map(few_large_result, few_large):
    features, result = few_large[0], few_large_result
    rows, cols = result.settings["grid"]
    assert result.som_weights.shape == (rows, cols, features.shape[1])
    assert result.node_labels.shape == (rows, cols)
    nearest_node = pairwise_distances_argmin(features, result.som_weights.reshape(rows * cols, -1))
    np.testing.assert_array_equal(result.node_labels.ravel()[nearest_node], result.labels)


def test_same_seed_gives_identical_labels_and_another_seed_the_same_k(many_small):
    features, _ = many_small
    first, second = cluster(features, seed=3), cluster(features, seed=3)
    np.testing.assert_array_equal(first.labels, second.labels)
    np.testing.assert_array_equal(first.som_weights, second.som_weights)
    assert cluster(features, seed=4).k == first.k


def test_som_with_given_k(few_large):
    features, _ = few_large
    result = cluster(features, k=6)
    assert result.k == 6 and result.k_criterion == "given" and result.criterion_curve is None
    assert set(result.labels) == set(range(6))


@pytest.mark.parametrize(
    "options",
    [{"refine": False}, {"linkage": "average"}, {"pca_components": None}, {"pca_components": 8}],
)
def test_map_options_still_find_separated_groups(options, few_large):
    features, labels = few_large
    result = cluster(features, maps=1, **options)
    assert result.k == 4
    assert {key: result.settings[key] for key in options} == options


@pytest.mark.parametrize("criterion", sorted(CRITERIA))
def test_each_criterion_gives_a_curve_and_a_k_from_it(criterion, few_large):
    features, _ = few_large
    result = cluster(features, criterion=criterion, max_k=40, maps=1)
    assert result.k in result.criterion_curve and max(result.criterion_curve) <= 40
    assert result.k_criterion == criterion


@pytest.mark.parametrize("method", sorted(METHODS))
def test_each_method_labels_every_image(method, few_large):
    features, _ = few_large
    result = cluster(features, method=method)
    assert result.method == method
    assert result.labels.shape == (len(features),)
    assert set(result.labels) == set(range(result.k))
    np.testing.assert_array_equal(result.labels, cluster(features, method=method).labels)


def test_baselines_follow_their_rules(few_large):
    features, labels = few_large
    assert cluster(features, method="kmeans").k == round(len(features) / 70)
    assert cluster(features, method="kmeans", k=4).k == 4
    side = round(np.sqrt(2 * len(features) / 70))
    nodes = cluster(features, method="som_nodes")
    assert nodes.node_labels.shape == (side, side) and nodes.k <= side * side
    agglomerative = cluster(features, method="agglomerative")
    assert adjusted_rand_score(labels, agglomerative.labels) == pytest.approx(1.0)


def test_agglomerative_on_a_sample_labels_the_rest(few_large):
    features, labels = few_large
    result = cluster(features, method="agglomerative", sample_size=100)
    assert result.k == 4
    assert adjusted_rand_score(labels, result.labels) == pytest.approx(1.0)


def test_hdbscan_gives_noise_images_a_cluster(few_large):
    features, _ = few_large
    outlier = -features[:1]
    result = cluster(np.vstack([features, outlier]), method="hdbscan")
    assert result.settings["noise_images"] >= 1
    assert result.labels.shape == (len(features) + 1,)
    assert set(result.labels) == set(range(result.k))


def test_two_images_give_one_cluster():
    result = cluster(np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert result.labels.tolist() == [0, 0] and result.k == 1


@pytest.mark.parametrize(
    "features, message",
    [
        (np.ones(5), "2-D"),
        (np.ones((1, 4)), "at least 2 images"),
        (np.ones((5, 0)), "no dimensions"),
        (np.array([[0.0, np.nan], [1.0, 1.0]]), "NaN or infinite"),
        (np.array([[0.0, np.inf], [1.0, 1.0]]), "NaN or infinite"),
        (np.array([["a", "b"], ["c", "d"]]), "real numbers"),
    ],
)
def test_bad_features_raise(features, message):
    with pytest.raises(ValueError, match=message):
        cluster(features)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"method": "spectral"}, "unknown clustering method"),
        ({"k": 0}, "k must be"),
        ({"k": 2.5}, "k must be"),
        ({"sigma_typo": 1.0}, "unknown option"),
        ({"criterion": "gap"}, "unknown criterion"),
        ({"criterion": "silhouette+gap"}, "unknown criterion"),
        ({"whiten_components": 0}, "whiten_components"),
        ({"linkage": "single"}, "linkage"),
        ({"method": "hdbscan", "k": 3}, "takes no k"),
        ({"method": "som_nodes", "k": 3}, "takes no k"),
    ],
)
def test_bad_arguments_raise(arguments, message, few_large):
    with pytest.raises(ValueError, match=message):
        cluster(few_large[0], **arguments)


def test_criterion_plot_is_written(tmp_path, few_large_result, few_large):
    path = tmp_path / "plots" / "k.png"
    assert set(few_large_result.criterion_curves) == {"silhouette", "modularity"}  # both are drawn
    own_k, curve = few_large_result.criterion_curves[few_large_result.k_criterion]
    assert own_k == few_large_result.k and curve == few_large_result.criterion_curve
    plot_k_criterion(few_large_result, path, k_true=4)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(path.parent.iterdir()) == [path]
    with pytest.raises(ValueError, match="no criterion curve"):
        plot_k_criterion(cluster(few_large[0], method="kmeans"), tmp_path / "none.png")


def test_the_k_chart_has_whole_ticks_and_shows_every_criterions_own_k(few_large_result, tmp_path):
    figure = plot_k_criterion(few_large_result, tmp_path / "k.png", k_true=4)
    for axes in figure.axes:
        ticks = [tick for tick in axes.get_xticks() if axes.get_xlim()[0] <= tick <= axes.get_xlim()[1]]
        assert ticks and all(float(tick).is_integer() for tick in ticks)
        labels = axes.get_legend_handles_labels()[1]
        name = axes.get_ylabel()
        own_k, _ = few_large_result.criterion_curves[name]
        # the criterion's own k is in the legend, either as its own line or named beside the chosen one
        assert any(f"{name} alone" in label and str(own_k) in label for label in labels), labels
        marks = [line.get_xdata()[0] for line in axes.get_lines()[1:] if not line.get_label().startswith("true")]
        assert len(marks) == len(set(marks))  # no mark of a k hides under another


def test_weighted_ward_with_one_image_per_point_merges_like_sklearns_ward():
    points = np.random.default_rng(0).standard_normal((40, 5))
    ours = _tree_cuts(_weighted_ward_tree(points, np.ones(len(points))), len(points))
    theirs = _tree_cuts(ward_tree(points)[0], len(points))
    for count in range(1, len(points) + 1):
        assert adjusted_rand_score(theirs[count], ours[count]) == pytest.approx(1.0)


def test_weighted_ward_merges_light_nodes_first_when_they_cost_the_images_less():
    line = np.array([[0.0], [1.0], [2.2]])
    # each point one image: the nearest pair (0, 1) merges; ten images at 0 and 1: joining
    # the single image at 2.2 to 1 raises the sum of squares less (10/11 * 1.44 < 5 * 1)
    np.testing.assert_array_equal(_weighted_ward_tree(line, np.array([1, 1, 1]))[0], [0, 1])
    np.testing.assert_array_equal(_weighted_ward_tree(line, np.array([10, 10, 1]))[0], [1, 2])


def test_image_free_nodes_join_the_nearest_node_holding_images():
    nodes = np.array([[0.0], [0.4], [5.0], [5.3], [2.6]])
    cuts = _node_hierarchy_cuts(nodes, np.array([3, 0, 3, 0, 0]), "ward")
    assert sorted(cuts) == [1, 2]
    labels = cuts[2]
    assert labels[1] == labels[0] and labels[3] == labels[2] and labels[4] == labels[2] != labels[0]


def _is_kmeans_fixed_point(features, labels):
    centres = np.stack([features[labels == cluster].mean(axis=0) for cluster in np.unique(labels)])
    return bool((pairwise_distances_argmin(features, centres) == labels).all())


def test_the_kmeans_step_settles_images_the_map_left_nearer_another_cluster():
    overlapping, _ = make_blobs(n_samples=300, centers=5, n_features=8, cluster_std=3.0, random_state=0)
    overlapping = overlapping.astype(np.float32)
    assert not _is_kmeans_fixed_point(overlapping, cluster(overlapping, k=5, refine=False).labels)
    assert _is_kmeans_fixed_point(overlapping, cluster(overlapping, k=5).labels)


def test_a_given_k_beyond_the_nodes_holding_images_is_refused_with_the_counts():
    identical = np.ones((50, 8), dtype=np.float32)
    with pytest.raises(ValueError, match="the images fall on 1 of the map's .* nodes, too few for 3 clusters"):
        cluster(identical, k=3)
    capped = cluster(identical, k=3, cap_k=True)  # a calibrated k: one cluster per node holding images
    assert capped.k == 1 and capped.settings["k_capped_from"] == 3


@pytest.mark.parametrize("tie, chosen", [(0.0, 11), (0.005, 10), (0.008, 9), (0.02, 8)])
def test_modularity_near_its_best_goes_to_the_fewest_clusters(tie, chosen):
    # the plateau of ImageNet features of Fashion-MNIST: 11 beats 10 by 0.0002
    curve = {8: 0.6401, 9: 0.6438, 10: 0.6473, 11: 0.6475, 12: 0.6464}
    assert _near_best(curve, max, tie) == chosen


def test_a_criterion_to_minimise_counts_values_above_its_best_as_near():
    assert _near_best({2: 1.30, 3: 1.01, 4: 1.00}, min, 0.02) == 3


def test_the_modularity_tie_reaches_the_choice_of_k():
    features, _ = nested_groups()
    exact = cluster(features, criterion="modularity", modularity_tie=0.0)
    generous = cluster(features, criterion="modularity", modularity_tie=0.9)
    assert generous.k < exact.k == 8


def test_the_silhouette_tie_reaches_the_choice_of_k():
    features, _ = nested_groups()
    exact = cluster(features, criterion="silhouette")
    generous = cluster(features, criterion="silhouette", silhouette_tie=0.9)
    assert generous.k > exact.k


def test_average_linkages_own_silhouette_tie_reaches_its_cuts_and_no_others():
    features, _ = nested_groups()

    def k_of(linkage, tie):
        return cluster(features, criterion="silhouette", linkage=linkage, maps=1, average_silhouette_tie=tie).k

    assert k_of("average", 0.9) > k_of("average", 0.0)
    assert k_of("ward", 0.9) == k_of("ward", 0.0)


@pytest.mark.parametrize("name", ["modularity_tie", "silhouette_tie", "average_silhouette_tie", "agreement_support",
                                  "agreement_tie"])
@pytest.mark.parametrize("tie", [-0.1, 1.0, "0.005", True])
def test_a_tie_outside_0_to_1_is_refused(name, tie):
    with pytest.raises(ValueError, match=name):
        cluster(np.eye(6, dtype=np.float32), **{name: tie})


@pytest.mark.parametrize("tie, chosen", [(0.0, 63), (0.01, 70), (0.02, 72)])
def test_silhouette_near_its_best_goes_to_the_most_clusters(tie, chosen):
    # fine-tuned features of 80 studio models with 3 to 60 photos each: 63 merges small models
    curve = {57: 0.5130, 60: 0.5166, 63: 0.5191, 66: 0.5160, 69: 0.5157, 70: 0.5150, 72: 0.5092, 75: 0.4981}
    assert _near_best(curve, max, tie, max) == chosen


def test_reference_finds_three_groups_by_the_cosine_silhouette():
    centres = np.array([[10.0, 0, 0, 0], [0, 10.0, 0, 0], [0, 0, 10.0, 0]])
    truth = np.repeat([0, 1, 2], [5, 9, 14])
    points = centres[truth] + np.random.default_rng(0).normal(0, 0.5, (len(truth), 4))
    result = cluster(points, method="reference", seed=1)
    assert result.k == 3 and result.k_criterion == "silhouette"
    assert adjusted_rand_score(truth, result.labels) == 1.0
    assert max(result.criterion_curve, key=result.criterion_curve.get) == 3
    assert min(result.criterion_curve) == 2 and max(result.criterion_curve) == len(truth) // 3


def test_reference_grid_is_dense_then_geometric():
    grid = clustering._k_grid(100, {"dense_k": 5, "k_step": 1.5})
    assert grid[:4] == [2, 3, 4, 5] and grid[-1] == 100
    assert all(later > earlier for earlier, later in zip(grid, grid[1:])) and len(grid) < 15


def test_pca_is_fitted_on_a_sample_of_a_large_set_and_projects_every_vector():
    data = np.random.default_rng(0).standard_normal((clustering.PCA_SAMPLE + 500, 40)).astype(np.float32)
    reduced, pca = clustering._reduced(data, 8, seed=0)
    assert pca.n_samples_ == clustering.PCA_SAMPLE
    assert reduced.shape == (len(data), 8) and reduced.dtype == np.float32
    np.testing.assert_allclose(reduced[-5:], pca.transform(data[-5:]), atol=1e-5)


@pytest.mark.parametrize("silhouettes, kept", [([0.3274, 0.3307], 0), ([0.4991, 0.5162], 1), ([0.5, 0.5], 0),
                                               ([0.30, 0.29, 0.40], 2)])
def test_a_later_hierarchy_is_kept_only_when_clearly_better(silhouettes, kept):
    assert clustering.kept_hierarchy(silhouettes, tie=0.02) == kept


def test_maps_agree_on_what_none_of_them_merges():
    """Two maps merge a 4-photo model with either neighbour; together they keep it apart."""
    one = [0] * 8 + [0] * 4 + [1] * 8  # the small model (photos 8-11) with the first large one
    other = [0] * 8 + [1] * 4 + [1] * 8  # ... with the second
    agreed = clustering.agreed_groups(np.array([one, other, one]))
    assert adjusted_rand_score(agreed, [0] * 8 + [1] * 4 + [2] * 8) == 1.0


def test_a_sliver_where_one_map_cuts_a_group_differently_rejoins_it():
    two = [0] * 10 + [1] * 10
    moved = [0] * 11 + [1] * 9  # one photo of the second group cut into the first
    agreed = clustering.agreed_groups(np.array([two, moved, two]))
    np.testing.assert_array_equal(agreed, two)


def test_a_group_stands_where_one_map_gave_it_the_least_support_of_a_cluster():
    whole = [0] * 9 + [1] * 9
    moved = [0] * 7 + [1] * 11  # two photos of the first group (2/9 of it) cut into the second
    maps = np.array([whole, moved, whole])
    assert len(np.unique(clustering.agreed_groups(maps, least_support=0.2))) == 3
    assert len(np.unique(clustering.agreed_groups(maps, least_support=0.25))) == 2


def _map_result(labels, dim):
    return clustering.ClusterResult(labels=np.asarray(labels), k=len(np.unique(labels)), method="som",
                                    som_weights=np.zeros((2, 2, dim)), node_labels=np.zeros((2, 2), int))


def test_the_map_that_separates_best_stands_where_the_agreement_separates_the_photos_worse(few_large):
    features, labels = few_large
    pieces = np.arange(len(labels)) % 12  # two maps that cut across every group: the typical ones
    maps = [_map_result(pieces, features.shape[1]), _map_result(labels, features.shape[1]),
            _map_result(pieces, features.shape[1])]
    result = clustering._agreement(features, maps, np.arange(len(labels)))
    agreement = result.settings["agreement"]
    assert result is maps[1] and result.k == 4 and not agreement["kept"]
    assert agreement["typical_map"] == 0 and agreement["standing_map"] == 1
    assert agreement["maps_k"] == [12, 4, 12] and agreement["k"] == 48
    assert agreement["maps_silhouette"][1] > agreement["typical_silhouette"] == agreement["maps_silhouette"][0]


def test_the_agreement_stands_where_the_maps_merge_different_groups(few_large):
    features, labels = few_large
    merges = [np.where(labels == pair[1], pair[0], labels) for pair in ((0, 1), (2, 3), (0, 1))]
    result = clustering._agreement(features, [_map_result(merged, features.shape[1]) for merged in merges],
                                   np.arange(len(labels)))
    assert result.settings["agreement"]["kept"] and result.k == 4
    assert adjusted_rand_score(labels, result.labels) == 1.0
    assert result.settings["agreement"]["maps_k"] == [3, 3, 3]


def test_one_map_or_a_given_k_trains_a_single_map(few_large):
    features, _ = few_large
    assert "agreement" in cluster(features).settings
    assert "agreement" not in cluster(features, maps=1).settings
    assert "agreement" not in cluster(features, k=4).settings
    with pytest.raises(ValueError, match="maps"):
        cluster(features, maps=0)
