"""The Fashion-MNIST harness end to end on a tiny generated source (no Debian package needed)."""
import json

import numpy as np
import pytest

from benchmarks import fashion_mnist, results_table, scenes
from prodcluster.fileio import read_image
from prodcluster.settings import DEFAULTS
from tests.test_fmnist_data import tiny_split, write_source

KEYS = {"dataset", "method", "ari_all", "ari_unseen", "ari_seen", "nmi", "ami", "acc", "k_true", "k_pred",
        "recall_at_1_unseen", "stage_seconds", "images_per_second", "peak_rss_mb", "backbone", "image_size",
        "preprocess", "cluster_method", "git_commit", "command", "machine", "k_criterion", "test_count",
        "seconds_per_photo_01", "mask_iou_mean", "mask_iou_p10"}
METHODS = {"ours", "ours_no_finetune", "ours_true_k", "ours_no_finetune_true_k", "ours_kmeans_n70", "ours_hdbscan"}
K_CRITERIA = {"ours_true_k": "given", "ours_no_finetune_true_k": "given", "ours_kmeans_n70": "N/70",
              "ours_hdbscan": "hdbscan", "baseline": "N/70"}
SCENE_TEST_COUNT = 40


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    rng = np.random.default_rng(0)
    return write_source(tmp_path_factory.mktemp("source"), tiny_split(12, rng), tiny_split(15, rng))


def harness_args(source, tmp_path, *extra):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- results:start -->\nold\n<!-- results:end -->\ntail\n")
    return fashion_mnist.parse_args(
        ["--source", str(source), "--root", str(tmp_path / "work"), "--per-class", "12", "--epochs", "1",
         "--image-size", "48", "--results", str(tmp_path / "results"), "--readme", str(readme), *extra])


def saved_records(tmp_path):
    return [json.loads(path.read_text()) for path in sorted((tmp_path / "results").glob("*.json"))]


def check_records(entries, dataset, k_true, test_count):
    for entry in entries:
        assert KEYS <= set(entry), KEYS - set(entry)
        assert entry["dataset"] == dataset and entry["k_true"] == k_true and entry["test_count"] == test_count
        assert entry["seconds_per_photo_01"] > 0
        assert entry["k_criterion"] in ({K_CRITERIA[entry["method"]]} if entry["method"] in K_CRITERIA
                                        else set(DEFAULTS.k_criterion.split("+")))
    n70 = next(e for e in entries if e["method"] == "ours_kmeans_n70")
    assert n70["k_pred"] == max(1, round(test_count / 70)) and n70["cluster_method"] == "kmeans"
    assert next(e for e in entries if e["method"] == "ours_hdbscan")["cluster_method"] == "hdbscan"


@pytest.mark.slow
def test_tiny_plain_run_writes_every_record_and_the_table(source, tmp_path):
    args = harness_args(source, tmp_path)
    records = fashion_mnist.run(args, "test")
    assert {entry["method"] for entry in records} == METHODS | {"baseline"}
    entries = saved_records(tmp_path)
    assert len(entries) == len(records)
    check_records(entries, "fmnist_test", 10, 150)
    assert all(e["preprocess"] == "none" and e["mask_iou_mean"] is None for e in entries)
    assert next(e for e in records if e["method"] == "ours_true_k")["k_pred"] == 10
    text = args.readme.read_text()
    assert "old" not in text and "**fmnist_test**" in text and "\n| ours |" in text and text.endswith("tail\n")
    assert "| k by |" in text and "| s/photo 01 |" in text and "IoU" not in text  # no record has a mask IoU


@pytest.mark.slow
def test_tiny_scene_run_scores_stage_01_masks(source, tmp_path):
    args = harness_args(source, tmp_path, "--protocol", "scene", "--per-class", "6", "--preprocess", "grabcut",
                        "--test-count", str(SCENE_TEST_COUNT), "--skip-baseline", "--tag", "grabcut")
    records = fashion_mnist.run(args, "test")
    assert {entry["method"] for entry in records} == METHODS
    entries = saved_records(tmp_path)
    assert {path.name for path in (tmp_path / "results").iterdir()} == {
        f"{scenes.SCENE_TEST_SET}__{method}__grabcut.json" for method in METHODS}
    classes_in_subset = len(set(scenes.test_indices(150, SCENE_TEST_COUNT) % 10))  # tiny_split cycles 0..9
    check_records(entries, scenes.SCENE_TEST_SET, classes_in_subset, SCENE_TEST_COUNT)
    for entry in entries:
        assert entry["preprocess"] == "grabcut"
        assert 0 < entry["mask_iou_p10"] <= entry["mask_iou_mean"] <= 1
    text = args.readme.read_text()
    assert "| IoU mean | IoU p10 | s/photo 01 |" in text and f"**{scenes.SCENE_TEST_SET}**" in text and "\n| ours_hdbscan |" in text


def test_stage_01_of_none_scores_the_item_share_and_grabcut_beats_it(source, tmp_path):
    facts = {}
    for method in ("none", "grabcut"):
        args = harness_args(source, tmp_path, "--protocol", "scene", "--per-class", "2", "--preprocess", method,
                            "--test-count", "12")
        _, test, facts[method] = fashion_mnist.prepare(args, fashion_mnist.Timer())
    true_masks = sorted(scenes.true_mask_folder(test.root, test.dataset).iterdir())
    item_shares = [float((read_image(path)[..., 0] > 127).mean()) for path in true_masks]
    assert len(true_masks) == facts["none"]["test_count"] == 12
    assert facts["none"]["mask_iou_mean"] == pytest.approx(np.mean(item_shares), abs=1e-4)
    assert facts["grabcut"]["mask_iou_mean"] > facts["none"]["mask_iou_mean"]


def test_results_table_reads_clustering_records_beside_the_speed_summary(tmp_path):
    record = {"dataset": "fmnist_test", "method": "ours", "ari_all": 0.5, "command": "python -m x"}
    (tmp_path / "fmnist_test__ours.json").write_text(json.dumps(record))
    (tmp_path / "speed.json").write_text(json.dumps({"peak_gflops": 200.0}))
    assert results_table.load_records(tmp_path) == [record]
    assert "| ours | 0.500 |" in results_table.markdown(results_table.load_records(tmp_path))


@pytest.mark.parametrize("extra", [["--test-count", "5"], ["--protocol", "scene", "--test-count", "0"]])
def test_test_count_needs_the_scene_protocol_and_a_positive_number(extra):
    with pytest.raises(SystemExit):
        fashion_mnist.parse_args(extra)


def test_skipping_comparators_keeps_only_our_clusterings(settings):
    assert set(fashion_mnist.finetuned_clusterings(settings, 10, comparators=False)) == {"ours", "ours_true_k"}
    assert fashion_mnist.parse_args(["--skip-comparators"]).skip_comparators


@pytest.mark.slow
def test_scale_benchmark_records_both_engines_and_every_size(tmp_path):
    from benchmarks import scale
    readme = tmp_path / "README.md"
    readme.write_text("# bench\n<!-- scale:start -->\n<!-- scale:end -->\n")
    args = scale.parse_args(["--photos", "12", "--sizes", "300,400", "--root", str(tmp_path / "work"),
                             "--results", str(tmp_path / "scale.json"), "--readme", str(readme)])
    record = scale.run(args, "python -m benchmarks.scale --photos 12 --sizes 300,400")
    assert json.loads((tmp_path / "scale.json").read_text()) == json.loads(json.dumps(record))
    assert record["engines"]["same_photos"] and record["engines"]["max_feature_difference"] <= 1e-5
    assert record["ray_nodes_tested"] == 1 and record["ray_startup_seconds"] > 0
    assert record["engine_overhead_ratio_2k"] > 0
    assert set(record["stage04_seconds"]) == set(record["stage04_ari"]) == {"300", "400"}
    assert all(0 < ari <= 1 for ari in record["stage04_ari"].values())
    assert record["stage04_per_point_ratio_100k_vs_10k"] is None  # neither size was measured
    assert "| ray |" in readme.read_text() and "| 400 |" in readme.read_text()


def test_grouped_vectors_have_unit_length_and_uneven_groups():
    from benchmarks import scale
    vectors, groups = scale.grouped_vectors(5000, seed=1, dimensions=32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    sizes = np.sort(np.bincount(groups, minlength=scale.GROUPS))[::-1]
    assert sizes[0] > 10 * max(sizes[-1], 1)  # one group holds far more photos than the smallest
