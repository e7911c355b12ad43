"""Self-training: which photos become pseudo-models, and a second fine-tuning on a tiny run end to end."""
import numpy as np
import pytest

from prodcluster import handoff, pipeline, self_training
from prodcluster.demo import make_demo
from prodcluster.fileio import read_csv, read_json
from prodcluster.updates import self_trained_network


def _clusters_with_doubtful_edges():
    """Two clusters of five tight photos and one photo halfway to the other cluster each, and a pair."""
    tight_a = [[1.0, 0.05 * i, 0.0] for i in range(5)]
    tight_b = [[0.05 * i, 1.0, 0.0] for i in range(5)]
    halfway = [[1.0, 0.9, 0.0], [0.9, 1.0, 0.0]]
    pair = [[0.0, 0.0, 1.0], [0.1, 0.0, 1.0]]
    features = np.array(tight_a + tight_b + halfway + pair)
    clusters = np.array([0] * 5 + [1] * 5 + [0, 1] + [2, 2])
    return features, clusters


def test_margins_are_the_cosine_to_the_own_centre_less_the_nearest_other():
    features = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(self_training.margins(features, [5, 5, 9]), [1.0, 1.0, 1.0])
    one_cluster = self_training.margins([[2.0, 2.0], [1.0, 0.0]], [0, 0])  # its centre halves the 45 degrees
    np.testing.assert_allclose(one_cluster, [np.cos(np.pi / 8)] * 2)


def test_pseudo_models_keep_the_clearest_photos_of_clusters_large_enough():
    features, clusters = _clusters_with_doubtful_edges()
    models = self_training.pseudo_models(features, clusters, share=0.85)
    assert list(models[10:12]) == ["", ""]  # halfway photos are the least clear
    assert list(models[12:]) == ["", ""]  # two photos are too few for a pseudo-model
    assert set(models[:5]) == {"pseudo-0"} and set(models[5:10]) == {"pseudo-1"}


def test_pseudo_models_need_enough_clear_photos_and_a_valid_share():
    features, clusters = _clusters_with_doubtful_edges()
    assert (self_training.pseudo_models(features, clusters, share=0.85, min_photos=6) == "").all()
    with pytest.raises(ValueError, match="share must be in"):
        self_training.pseudo_models(features, clusters, share=0)


@pytest.mark.slow  # two fine-tunings of a tiny network: about 60 s
def test_self_training_learns_pseudo_models_and_a_rerun_changes_nothing(settings, tmp_path):
    settings = settings.replace(epochs=1, head_epochs=3, augmented_views=1, runtime="keras", tsne_perplexity=3,
                                self_training=True)
    make_demo(settings.raw_img, n_models=6, photos_per_model=8, seed=5)
    pipeline.run_all(settings)
    pseudo = read_csv(settings.path("pseudo_models"))
    info = read_json(settings.path("features_info"))["self_training"]
    assert info["pseudo_models"] == pseudo["model"].nunique() >= 2 and info["pseudo_photos"] == len(pseudo)
    assert info["known_models"] == 3 and info["known_models_from"] == settings.dataset
    classes = read_json(self_trained_network(settings).path("classes"))["classes"]
    assert classes[3:] == sorted(pseudo["model"].unique()) and not set(classes[:3]) & set(pseudo["model"])
    assert set(pseudo["file"]) <= set(handoff.load_image_list(settings))
    metrics = read_json(settings.path("metrics"))
    assert metrics["features"]["model"].startswith(f"models/{settings.dataset}/self_trained/")
    assert metrics["scores"]["seen"]["k_true"] == 3  # pseudo-models are not scored as seen
    report = settings.path("report").read_text()
    assert f"self-trained on 3 known models and {info['pseudo_models']} clusters taken as pseudo-models" in report
    predictions = settings.path("predictions").read_bytes()

    pipeline.run_all(settings)  # every stage up to date, the features self-trained already
    assert settings.path("predictions").read_bytes() == predictions
    assert pipeline.self_train(settings) is None

    new = tmp_path / "new"
    make_demo(new, n_models=1, photos_per_model=2, seed=5)  # stage 05 reads them with the self-trained network
    added = pipeline.assign_new_photos(settings, new, "day1")
    assert len(added) == 2 and set(added["outcome"]) <= {"joined", "new cluster"}
