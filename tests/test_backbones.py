"""Backbones: real EfficientNet-Lite0 ImageNet weights, feature shapes, weight files and errors."""
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from prodcluster.backbones import BUILDERS, WeightsUnavailable, build_backbone, native_size, top_block_layers
from prodcluster.demo import make_demo
from prodcluster.efficientnet_lite import block_settings, build_efficientnet_lite, cache_file_name
from prodcluster.settings import BACKBONES

REPO = Path(__file__).resolve().parents[1]

CAT_CLASSES = range(281, 286)  # ImageNet tabby, tiger cat, Persian, Siamese, Egyptian cat


def images(size, count=2):
    return np.random.default_rng(0).uniform(0, 255, (count, size, size, 3)).astype("float32")


def chelsea(size=224):
    return cv2.resize(data.chelsea(), (size, size), interpolation=cv2.INTER_AREA).astype("float32")[None]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def lite_classifier(cache_dir):
    started = time.perf_counter()
    model = build_efficientnet_lite(include_top=True, cache_dir=cache_dir)
    print(f"\nEfficientNet-Lite0 first build (conversion): {time.perf_counter() - started:.2f} s")
    return model


def test_efficientnet_lite0_sees_the_cat(lite_classifier):
    probabilities = lite_classifier.predict(chelsea(), verbose=0)[0]
    top5 = np.argsort(probabilities)[::-1][:5]
    print("chelsea top-5:", ", ".join(f"{index}: {probabilities[index]:.3f}" for index in top5))
    assert top5[0] in CAT_CLASSES
    assert probabilities[list(CAT_CLASSES)].sum() > 0.5


def test_converted_weights_are_cached(lite_classifier, cache_dir):
    assert (cache_dir / cache_file_name("efficientnet_lite0")).is_file()
    started = time.perf_counter()
    cached = build_efficientnet_lite(include_top=True, cache_dir=cache_dir)
    print(f"\nEfficientNet-Lite0 build from the cache: {time.perf_counter() - started:.2f} s")
    np.testing.assert_allclose(cached.predict(chelsea(), verbose=0), lite_classifier.predict(chelsea(), verbose=0))


def test_unusable_cache_is_converted_again(lite_classifier, tmp_path):
    (tmp_path / cache_file_name("efficientnet_lite0")).write_bytes(b"interrupted")
    with pytest.warns(UserWarning, match="unusable"):
        rebuilt = build_efficientnet_lite(include_top=True, cache_dir=tmp_path)
    np.testing.assert_allclose(rebuilt.predict(chelsea(), verbose=0), lite_classifier.predict(chelsea(), verbose=0))
    assert (tmp_path / cache_file_name("efficientnet_lite0")).stat().st_size > 1_000_000


@pytest.mark.parametrize("size", [224, 96])
def test_efficientnet_lite0_pooled_features(lite_classifier, cache_dir, size):
    model = build_backbone("efficientnet_lite0", image_size=size, cache_dir=cache_dir)
    features = model.predict(images(size), verbose=0)
    assert features.shape == (2, 1280)
    assert np.isfinite(features).all() and (features >= 0).all()  # ReLU6 before pooling


@pytest.mark.parametrize("name", ["efficientnet_lite1", "efficientnet_lite2"])
def test_wider_lite_variants_see_the_cat_at_their_native_size(name, tmp_path):
    size = native_size(name)
    classifier = build_efficientnet_lite(name, include_top=True, cache_dir=tmp_path)
    probabilities = classifier.predict(chelsea(size), verbose=0)[0]
    top5 = np.argsort(probabilities)[::-1][:5]
    print(f"{name} chelsea top-5:", ", ".join(f"{index}: {probabilities[index]:.3f}" for index in top5))
    assert top5[0] in CAT_CLASSES and probabilities[list(CAT_CLASSES)].sum() > 0.5
    assert (tmp_path / cache_file_name(name)).is_file()
    features = build_backbone(name, cache_dir=tmp_path).predict(chelsea(size), verbose=0)
    assert features.shape == (1, 1280)


@pytest.mark.parametrize("name, blocks, widest", [("efficientnet_lite0", 16, 320), ("efficientnet_lite1", 21, 320),
                                                   ("efficientnet_lite2", 21, 352)])
def test_lite_widths_scale_blocks_and_channels_as_published(name, blocks, widest):
    settings = list(block_settings(BACKBONES[name]))
    assert len(settings) == blocks and settings[-1][-1] == widest


@pytest.fixture(scope="module")
def random_inception():
    return build_backbone("inception_v3", image_size=75, pretrained=False)


def test_inception_v3_random_weights_small_input(random_inception):
    assert random_inception.predict(images(75), verbose=0).shape == (2, 2048)


def test_weights_file_is_loaded(tmp_path):
    source = build_backbone("mobilenet_v2", image_size=32, pretrained=False)
    weights_file = tmp_path / "mobilenet.weights.h5"
    source.save_weights(weights_file)
    loaded = build_backbone("mobilenet_v2", image_size=32, weights_file=weights_file)
    expected = source.predict(images(32), verbose=0)
    assert expected.shape == (2, 1792)
    np.testing.assert_allclose(loaded.predict(images(32), verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_missing_weights_file_is_named(tmp_path):
    missing = tmp_path / "nowhere.h5"
    with pytest.raises(WeightsUnavailable, match="nowhere.h5 does not exist"):
        build_backbone("mobilenet_v2", image_size=32, weights_file=missing)


def test_unknown_backbone_lists_the_choices():
    with pytest.raises(ValueError, match="inception_v3, mobilenet_v2, efficientnet_lite0"):
        build_backbone("resnet50")


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("inception_v3", {"image_size": 64}),
        ("efficientnet_lite0", {"image_size": 224.0}),
        ("efficientnet_lite0", {"weights_file": "lite0.h5"}),
        ("mobilenet_v2", {"weights_file": "m.h5", "pretrained": False}),
    ],
)
def test_bad_arguments_are_refused(name, kwargs):
    with pytest.raises(ValueError):
        build_backbone(name, **kwargs)


def test_native_sizes():
    assert [native_size(name) for name in BACKBONES] == [299, 224, 224, 240, 260]


@pytest.mark.parametrize("name", [name for name in BACKBONES if name != "inception_v3"])
def test_every_registered_backbone_builds_and_fine_tunes_by_block(name):
    backbone = BACKBONES[name]
    assert backbone.family in BUILDERS
    model = build_backbone(name, image_size=max(backbone.min_size, 64), pretrained=False)
    assert model.output_shape[-1] >= 1280 and len(top_block_layers(model, name, 1)) > 1


def test_top_blocks_of_inception_v3(random_inception):
    model = random_inception
    names = [layer.name for layer in top_block_layers(model, "inception_v3", 2)]
    assert "mixed9" in names and names[-1] == model.layers[-1].name
    assert "mixed8" not in names and "mixed7" not in names
    assert len(model.layers) - len(names) == 250  # the 249 layers Keras freezes for this, plus our input scaling
    with pytest.raises(ValueError, match="from 1 to 10"):
        top_block_layers(model, "inception_v3", 11)


def test_top_block_of_efficientnet_lite0():
    model = build_backbone("efficientnet_lite0", image_size=64, pretrained=False)
    names = [layer.name for layer in top_block_layers(model, "efficientnet_lite0", 1)]
    assert names[0] == "block15_expand_conv" and names[-1] == "avg_pool"
    assert not any(name.startswith("block14_") for name in names)


def test_weights_advice_follows_how_the_backbone_was_chosen():
    error = WeightsUnavailable("inception_v3", "the weights file x.h5 does not exist")
    file_name = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert f"https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/{file_name}" in str(error)
    assert 'BACKBONE = "efficientnet_lite0"' in str(error)
    assert 'BACKBONE_WEIGHTS = {"inception_v3": "weights/' in str(error) and "--backbone" not in str(error)
    by_flag = error.advice(by_flag=True)
    assert "--backbone-weights weights/inception_v3_weights" in by_flag and "--backbone efficientnet_lite0" in by_flag
    assert "config.py" not in by_flag


@pytest.mark.slow
def test_backbone_weights_flag_reaches_the_network_and_its_error(tmp_path):
    make_demo(tmp_path / "raw_img" / "demo", n_models=2, photos_per_model=2, seed=1)
    env = {**os.environ, "PRODCLUSTER_WORK_DIR": str(tmp_path)}
    for script in ("00_make_labels_true.py", "01_img_preprocess.py"):
        subprocess.run([sys.executable, script], cwd=REPO, env=env, check=True, capture_output=True)
    done = subprocess.run([sys.executable, "03_extract_features.py", "--backbone", "inception_v3",
                           "--backbone-weights", str(tmp_path / "nowhere.h5")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "nowhere.h5 does not exist" in done.stderr and "pass --backbone-weights" in done.stderr
