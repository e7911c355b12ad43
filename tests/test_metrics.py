import math

import numpy as np
import pytest

from prodcluster.arrays import per_class_mask
from prodcluster.metrics import (
    clustering_accuracy,
    clustering_scores,
    format_table,
    probe_ari,
    recall_at_1,
    split_scores,
)


def test_perfect_clustering_with_other_names_scores_one():
    scores = clustering_scores(["a", "a", "b", "b", "c"], [2, 2, 0, 0, 1])
    for key in ("ari", "nmi", "ami", "homogeneity", "completeness", "acc"):
        assert scores[key] == pytest.approx(1.0), key
    assert (scores["k_true"], scores["k_pred"], scores["n_images"]) == (3, 3, 5)


def test_ari_of_a_small_case_matches_hand_computation():
    # Contingency [[2, 1, 0], [0, 1, 2]]: sum C(n_ij, 2) = 2, rows sum C(3, 2) * 2 = 6,
    # columns C(2, 2) * 3 = 3, C(6, 2) = 15; expected = 6 * 3 / 15 = 1.2, max = 4.5.
    # ARI = (2 - 1.2) / (4.5 - 1.2) = 8 / 33.
    scores = clustering_scores([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2])
    assert scores["ari"] == pytest.approx(8 / 33)
    # Best one-to-one match: true 0 -> cluster 0 (2 photos), true 1 -> cluster 2 (2 photos);
    # cluster 1 is left unmatched, so its 2 photos count as wrong.
    assert scores["acc"] == pytest.approx(4 / 6)


def test_accuracy_with_a_merged_pair_of_models():
    labels_true = [0, 0, 1, 1, 2, 2]
    labels_pred = [7, 7, 7, 7, 9, 9]
    assert clustering_accuracy(labels_true, labels_pred) == pytest.approx(4 / 6)
    scores = clustering_scores(labels_true, labels_pred)
    assert scores["completeness"] == pytest.approx(1.0)
    assert scores["homogeneity"] < 1.0


def test_accuracy_with_one_model_split_in_two_clusters():
    assert clustering_accuracy(["x"] * 4, [0, 0, 1, 1]) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("labels_true", "labels_pred", "message"),
    [([0, 1], [0], "entries"), ([], [], "empty"), ([[0, 1]], [[0, 1]], "one-dimensional")],
)
def test_scores_reject_bad_labels(labels_true, labels_pred, message):
    with pytest.raises(ValueError, match=message):
        clustering_scores(labels_true, labels_pred)


# Points on a line: 0 and 1 are "a", 2 and 3 far right are "b", 4 sits next to 1 but is "b",
# and 5 is a lone "c" just left of 0.
LINE_POINTS = np.array([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0], [11.0, 0.0], [1.4, 0.0], [-0.5, 0.0]])
LINE_LABELS = ["a", "a", "b", "b", "b", "c"]


def test_recall_at_1_on_hand_made_points():
    # Queries 0..4 (lone "c" is not queried but can still be a neighbour):
    # 0 -> 5 (c) wrong, 1 -> 4 (b) wrong, 2 -> 3 right, 3 -> 2 right, 4 -> 1 (a) wrong.
    assert recall_at_1(LINE_POINTS, LINE_LABELS, metric="euclidean") == pytest.approx(2 / 5)


def test_recall_at_1_with_mask_uses_only_masked_rows_as_neighbours():
    # Without point 5, point 0's nearest is point 1 (a): right.
    mask = np.array([True, True, True, True, True, False])
    assert recall_at_1(LINE_POINTS, LINE_LABELS, mask=mask, metric="euclidean") == pytest.approx(3 / 5)


def test_recall_at_1_cosine_ignores_vector_length():
    features = np.array([[1.0, 0.0], [10.0, 1.0], [0.0, 1.0], [1.0, 10.0]])
    labels = [0, 0, 1, 1]
    assert recall_at_1(features, labels) == pytest.approx(1.0)
    # Euclidean: (1, 0) and (0, 1) are each other's nearest, both wrong; the long vectors are right.
    assert recall_at_1(features, labels, metric="euclidean") == pytest.approx(0.5)


def test_recall_at_1_skips_the_photo_itself_among_exact_duplicates():
    features = np.array([[0.0, 0.0], [0.0, 0.0], [5.0, 5.0], [5.0, 5.0]])
    assert recall_at_1(features, ["a", "a", "b", "b"], metric="euclidean") == 1.0


def test_recall_at_1_is_nan_when_every_label_is_unique():
    assert math.isnan(recall_at_1(np.eye(3), ["a", "b", "c"]))


def test_recall_at_1_rejects_bad_inputs():
    with pytest.raises(ValueError, match="rows"):
        recall_at_1(np.eye(3), [0, 0])
    with pytest.raises(ValueError, match="metric"):
        recall_at_1(np.eye(3), [0, 0, 1], metric="manhattan")
    with pytest.raises(ValueError, match="mask"):
        recall_at_1(np.eye(3), [0, 0, 1], mask=[1, 1, 0])


def test_split_scores_partitions_photos_by_seen_models():
    labels_true = [1, 1, 1, 2, 2, 3, 3, 3, 3]
    labels_pred = [0, 0, 0, 1, 1, 2, 2, 2, 5]
    parts = split_scores(labels_true, labels_pred, seen_models={"1", "2"})
    assert [parts[name]["n_images"] for name in ("all", "seen", "unseen")] == [9, 5, 4]
    assert parts["seen"]["ari"] == pytest.approx(1.0)
    assert parts["unseen"]["k_pred"] == 2


def test_split_scores_gives_none_for_a_part_without_photos():
    parts = split_scores(["a", "b"], [0, 1], seen_models=[])
    assert parts["seen"] is None
    assert parts["unseen"]["n_images"] == 2


def test_format_table_aligns_rows_and_marks_missing_parts():
    parts = split_scores(["a", "a", "b"], [0, 0, 1], seen_models=["z"])
    lines = format_table(parts).splitlines()
    assert [line.split()[0] for line in lines] == ["part", "all", "seen", "unseen"]
    assert len({len(line) for line in lines}) == 1
    assert lines[0].split()[1:4] == ["n_images", "k_true", "k_pred"]
    assert "1.0000" in lines[1]
    assert set(lines[2].split()[1:]) == {"-"}


def test_format_table_rejects_empty_input():
    with pytest.raises(ValueError, match="non-empty"):
        format_table({})


def test_the_probe_reaches_one_on_separated_models_and_little_on_noise():
    rng = np.random.default_rng(0)
    labels = np.repeat(["a", "b", "c", "d"], [2, 3, 10, 25])
    centres = np.eye(8)[:4] * 10
    separated = centres[np.searchsorted(["a", "b", "c", "d"], labels)] + rng.normal(0, 0.1, (len(labels), 8))
    assert probe_ari(separated, labels) == 1.0
    noise = rng.normal(size=(len(labels), 8))
    assert probe_ari(noise, labels) < 0.3


def test_a_per_class_mask_holds_the_share_of_each_class_it_is_asked_for():
    labels = np.repeat(["a", "b", "c"], [1, 2, 5])
    half = per_class_mask(labels, lambda photos: (photos + 1) // 2, seed=3)
    assert half.sum() == 1 + 1 + 3
    assert set(labels[~half]) == {"b", "c"}
