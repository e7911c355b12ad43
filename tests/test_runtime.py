"""LiteRT gives stage 03 the same features as Keras, and Keras stays where LiteRT cannot go."""
import numpy as np
import pytest

from prodcluster.backbones import build_backbone
from prodcluster.runtime import LiteRTNetwork, converted, for_runtime


@pytest.fixture(scope="module")
def backbone(tmp_path_factory):
    return build_backbone("efficientnet_lite0", image_size=96, cache_dir=tmp_path_factory.mktemp("cache"))


def cosine_distances(a, b):
    return 1 - (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_litert_features_match_keras_for_any_batch_size(backbone, tmp_path):
    photos = np.random.default_rng(0).uniform(0, 255, (5, 96, 96, 3)).astype(np.float32)
    lite = LiteRTNetwork(backbone, tmp_path)
    assert lite.output_shape == backbone.output_shape
    for batch in (photos, photos[:2], photos[:1]):
        assert cosine_distances(lite.predict_on_batch(batch), backbone.predict_on_batch(batch)).max() < 1e-4


def test_the_converted_model_is_cached_by_its_weights(backbone, tmp_path):
    first = converted(backbone, tmp_path)
    stamp = first.stat().st_mtime_ns
    assert converted(backbone, tmp_path) == first and first.stat().st_mtime_ns == stamp
    changed = build_backbone("efficientnet_lite0", image_size=96, pretrained=False)
    assert converted(changed, tmp_path) != first


def test_keras_is_kept_when_asked_for_or_when_conversion_fails(backbone, tmp_path, caplog):
    assert for_runtime(backbone, "keras", tmp_path) == (backbone, "keras")
    (tmp_path / "blocked").write_text("a file where the cache folder should be")
    assert for_runtime(backbone, "tflite", tmp_path / "blocked") == (backbone, "keras")
    assert "using Keras" in caplog.text
