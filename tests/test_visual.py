import numpy as np
import pytest
from minisom import MiniSom

from prodcluster import visual
from prodcluster.fileio import PNG_SIGNATURE, read_image, save_image
from prodcluster.visual import (_largest_clusters, matched_colours, plot_contact_sheet, plot_tsne, plot_umatrix,
                               umatrix)


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 1000


def three_groups(n=30, dims=64, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    centres = rng.normal(scale=5.0, size=(3, dims))
    return centres[labels] + rng.normal(size=(n, dims)), labels


def test_plot_tsne_writes_two_panels_and_returns_embedding(tmp_path):
    features, labels = three_groups()
    both, single = tmp_path / "both.png", tmp_path / "single.png"
    embedding = plot_tsne(features, labels, labels[::-1], both)
    plot_tsne(features, None, labels, single)
    assert_png(both)
    assert_png(single)
    assert embedding.shape == (30, 2) and np.isfinite(embedding).all()
    assert read_image(both).shape[1] > read_image(single).shape[1]
    assert not list(tmp_path.glob(".*.tmp*"))


def test_plot_tsne_with_fewer_points_than_perplexity(tmp_path):
    features, labels = three_groups(n=7)
    embedding = plot_tsne(features, labels, labels, tmp_path / "tiny.png", perplexity=30)
    assert_png(tmp_path / "tiny.png")
    assert np.isfinite(embedding).all()


def test_plot_tsne_samples_rows_reproducibly(tmp_path):
    features, labels = three_groups()
    first = plot_tsne(features, labels, labels, tmp_path / "a.png", max_points=20, seed=3)
    second = plot_tsne(features, labels, labels, tmp_path / "b.png", max_points=20, seed=3)
    assert np.isnan(first).any(axis=1).sum() == 10
    np.testing.assert_array_equal(first, second)


def test_plot_tsne_rejects_mismatched_labels(tmp_path):
    features, labels = three_groups()
    with pytest.raises(ValueError, match="labels_pred"):
        plot_tsne(features, labels, labels[:-1], tmp_path / "x.png")


def test_umatrix_of_a_hand_made_row():
    weights = np.array([[[0.0], [1.0], [3.0]]])
    # Node 0 sees node 1 (distance 1); node 1 sees 1 and 2; node 2 sees 2.
    np.testing.assert_allclose(umatrix(weights), [[1.0, 1.5, 2.0]])


def trained_som(features, side=4):
    som = MiniSom(side, side, features.shape[1], sigma=1.0, learning_rate=0.5, random_seed=1)
    som.train(features, 300, random_order=True)
    return som


def test_umatrix_agrees_with_minisom_mean_distance_map():
    features, _ = three_groups(dims=5)
    som = trained_som(features)
    ours = umatrix(som.get_weights())
    np.testing.assert_allclose(ours / ours.max(), som.distance_map(scaling="mean"))


def test_plot_umatrix_with_hits_and_cluster_borders(tmp_path):
    features, _ = three_groups(dims=5)
    som = trained_som(features)
    hits = som.activation_response(features)
    node_labels = np.zeros((4, 4), dtype=int)
    node_labels[:, 2:] = 1
    plot_umatrix(som.get_weights(), hits, tmp_path / "plain.png")
    plot_umatrix(som.get_weights(), hits, tmp_path / "borders.png", node_labels=node_labels)
    assert_png(tmp_path / "plain.png")
    assert_png(tmp_path / "borders.png")
    assert (tmp_path / "plain.png").read_bytes() != (tmp_path / "borders.png").read_bytes()
    with pytest.raises(ValueError, match="hits"):
        plot_umatrix(som.get_weights(), hits[:2], tmp_path / "bad.png")


def photo_folder(folder, n=30):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = folder / f"m{i % 3}_p{i}_0.png"
        size = (40, 60, 3) if i % 2 else (70, 30, 3)
        save_image(path, rng.integers(0, 256, size=size, dtype=np.uint8))
        paths.append(path)
    paths[0].write_bytes(b"not an image")
    return paths


def test_plot_contact_sheet_has_one_row_per_cluster(tmp_path):
    paths = photo_folder(tmp_path / "photos")
    labels = np.array([0] * 15 + [1] * 10 + [2] * 5)
    three, one = tmp_path / "three.png", tmp_path / "one.png"
    assert plot_contact_sheet(paths, labels, three, per_row=6, thumb=32) == "all 3 clusters, largest first"
    assert plot_contact_sheet(paths, labels, one, per_row=6, thumb=32, max_clusters=1).startswith(
        "the 1 largest of 3 clusters (the other 2 are in report.html)")
    assert_png(three)
    assert_png(one)
    assert read_image(three).shape[0] > read_image(one).shape[0]
    with pytest.raises(ValueError, match="labels"):
        plot_contact_sheet(paths, labels[:-1], tmp_path / "bad.png")


def test_contact_sheet_rows_of_equal_size_follow_the_cluster_numbers():
    labels = np.repeat([10, 2, 1, 0], 3)
    assert [label for label, _ in _largest_clusters(labels, 20)] == [0, 1, 2, 10]


def test_each_cluster_takes_the_colour_of_the_model_it_matches():
    true = np.array(["M1"] * 4 + ["M2"] * 4 + ["M3"] * 4)
    pred = np.array([7] * 4 + [3] * 2 + [5] * 2 + [0] * 4)  # M2 split in two clusters
    model_colour, cluster_colour = matched_colours(true, pred)
    assert (cluster_colour["7"] == model_colour["M1"]).all() and (cluster_colour["0"] == model_colour["M3"]).all()
    assert any((cluster_colour[name] == model_colour["M2"]).all() for name in ("3", "5"))
    others = [tuple(colour) for colour in model_colour.values()]
    assert sum(tuple(cluster_colour[name]) not in others for name in ("3", "5")) == 1  # the split piece stands out


def test_many_labels_get_colours_that_show_on_white():
    _, colours, _ = visual._label_colours(np.array([f"M{index:03d}" for index in range(24)]))
    luminance = colours[:, :3] @ [0.2126, 0.7152, 0.0722]
    assert luminance.max() <= 0.7 + 1e-9 and len({tuple(colour) for colour in colours}) == 24
