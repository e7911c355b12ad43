"""LiteRT gives stage 03 the same features as Keras, and Keras stays where LiteRT cannot go."""
import numpy as np
import pytest

from prodcluster.backbones import build_backbone
from prodcluster.runtime import LiteRTNetwork, convert, for_runtime


@pytest.fixture(scope="module")
def backbone(tmp_path_factory):
    return build_backbone("efficientnet_lite0", image_size=96, cache_dir=tmp_path_factory.mktemp("cache"))


def cosine_distances(a, b):
    return 1 - (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


class CountingBuild:
    def __init__(self, network):
        self.network, self.calls = network, 0

    def __call__(self):
        self.calls += 1
        return self.network


def test_litert_features_match_keras_for_any_batch_size(backbone, tmp_path):
    photos = np.random.default_rng(0).uniform(0, 255, (5, 96, 96, 3)).astype(np.float32)
    lite = LiteRTNetwork(convert(backbone, tmp_path / "lite0.tflite"))
    assert lite.output_shape == backbone.output_shape
    for batch in (photos, photos[:2], photos[:1]):
        assert cosine_distances(lite.predict_on_batch(batch), backbone.predict_on_batch(batch)).max() < 1e-4


@pytest.mark.slow
def test_a_cached_conversion_is_used_without_building_until_a_source_changes(backbone, tmp_path):
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"first")
    build = CountingBuild(backbone)
    first, runtime = for_runtime(build, "tflite", tmp_path, (weights, "at 96 px"))
    assert runtime == "tflite" and build.calls == 1
    cached = sorted((tmp_path / "tflite").glob("*.tflite"))
    stamp = cached[0].stat().st_mtime_ns
    again, _ = for_runtime(build, "tflite", tmp_path, (weights, "at 96 px"))
    assert build.calls == 1 and cached[0].stat().st_mtime_ns == stamp
    photo = np.full((1, 96, 96, 3), 128, np.float32)
    np.testing.assert_array_equal(again.predict_on_batch(photo), first.predict_on_batch(photo))
    weights.write_bytes(b"second")
    for_runtime(build, "tflite", tmp_path, (weights, "at 96 px"))
    for_runtime(build, "tflite", tmp_path, (weights, "at 128 px"))
    assert build.calls == 3 and len(list((tmp_path / "tflite").glob("*.tflite"))) == 3


def test_keras_is_kept_when_asked_for_or_when_conversion_fails(backbone, tmp_path, caplog):
    assert for_runtime(lambda: backbone, "keras", tmp_path, ()) == (backbone, "keras")
    (tmp_path / "blocked").write_text("a file where the cache folder should be")
    assert for_runtime(lambda: backbone, "tflite", tmp_path / "blocked", ()) == (backbone, "keras")
    assert "using Keras" in caplog.text
