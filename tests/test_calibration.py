"""The count learnt from calibration models on hand-made groups, and stage 04 calibrated end to end."""
import numpy as np
import pytest

from prodcluster import calibration, stages
from prodcluster.demo import make_demo
from prodcluster.fileio import read_json


def groups(sizes, seed, spread=0.05, dim=32):
    """Photos of len(sizes) models: tight groups around random unit directions; (vectors, model ids)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((len(sizes), dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    models = np.repeat(np.arange(len(sizes)), sizes)
    return centres[models] + spread * rng.standard_normal((len(models), dim)), models.astype(str)


def test_a_cost_learnt_on_even_groups_counts_uneven_ones():
    known, known_models = groups([6, 6, 6, 6], seed=1)
    photos, models = groups([2, 3, 5, 40, 60, 2, 9], seed=2)
    learnt = calibration.calibrated_count(photos, known, known_models)
    assert learnt.k == 7 and learnt.ari == 1.0
    assert learnt.n_models == 4 and learnt.n_photos == 24 and learnt.counted_on == len(photos)
    low, high = learnt.cut_range
    assert low < learnt.threshold < high
    counts = [learnt.counts[cost] for cost in sorted(learnt.counts)]
    assert counts == sorted(counts, reverse=True) and counts[0] > 7 > counts[-1]


def test_the_count_follows_the_spread_the_calibration_models_show():
    photos, _ = groups([10] * 6, seed=3, spread=0.15)
    tight = calibration.calibrated_count(photos, *groups([6] * 4, seed=4, spread=0.03))
    loose = calibration.calibrated_count(photos, *groups([6] * 4, seed=4, spread=0.15))
    assert loose.k == 6 and tight.k > 6 and tight.threshold < loose.threshold


def test_too_few_calibration_models_are_refused():
    vectors, models = groups([5, 5, 1, 1], seed=5)
    with pytest.raises(ValueError, match="2 models with two photos or more; at least 3"):
        calibration.calibrated_count(vectors, vectors, models)
    with pytest.raises(ValueError, match="20 calibration vectors but 3 model ids"):
        calibration.calibrated_count(vectors, np.zeros((20, 32)), ["a", "b", "c"])


def test_stage_04_takes_k_from_the_calibration_models_and_says_so(settings):
    settings = settings.replace(calibration_share=0.5, use_finetuned=False, tsne_perplexity=3)
    make_demo(settings.raw_img, n_models=12, photos_per_model=3, seed=5)
    stages.make_labels(settings)
    stages.preprocess(settings)
    split = stages.make_training_folders(settings)[0]
    assert (split["role"] == "calibration").sum() == 3
    info = stages.extract_features(settings)
    assert info["calibration_photos"] == 9
    result = stages.cluster(settings)
    recorded = read_json(settings.path("clustering"))
    assert result.k_criterion == recorded["k_criterion"] == "calibrated"
    assert recorded["calibration"]["n_models"] == 3 and recorded["k"] == result.k
    assert recorded["calibration"]["k"] == result.k and recorded["calibration"]["k_capped_from"] is None
    assert settings.path("k_chart").is_file()
    assert stages.cluster(settings.replace(cluster_method="reference")).k_criterion == "silhouette"  # its own rule
    stages.cluster(settings)
    report = stages.evaluate(settings)
    assert report["scores"]["unseen"]["k_true"] == 6  # the calibration models count with the known ones
    stages.visualize(settings)
    page = settings.path("report").read_text()
    assert "calibrated on 9 photos of 3 known models held out of fine-tuning" in page
    assert settings.path("k_chart").name in page
    stages.make_training_folders(settings.replace(calibration_share=0.0))
    stages.extract_features(settings)
    assert not settings.path("calibration_features").exists()
    assert stages.cluster(settings).k_criterion != "calibrated"
