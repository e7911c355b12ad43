"""Fine-tuning: augmentation, the layers each phase trains, the losses, saving and reloading."""
import math
import re
import sys

import keras
import numpy as np
import pandas as pd
import pytest

from prodcluster import features, finetune, pipeline, stages, visual
from prodcluster.backbones import build_backbone
from prodcluster.demo import make_demo
from prodcluster.settings import FEATURE_LAYERS

SIZE = 32


@pytest.fixture
def nets():
    keras.utils.set_random_seed(0)
    backbone = build_backbone("efficientnet_lite0", SIZE, cache_dir=None)
    return finetune.Networks(backbone, n_classes=3, loss="supcon", embedding_dim=8, seed=0)


def photos(n, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, SIZE, SIZE, 3)).astype(np.float32)


@pytest.mark.parametrize("kind", ["standard", "seller"])
def test_augmentation_keeps_shape_and_pixel_range_and_is_off_at_inference(kind):
    images = photos(4)
    augment = finetune.augmentation(seed=1, kind=kind)
    varied = np.asarray(augment(images, training=True))
    assert varied.shape == images.shape and varied.dtype == np.float32
    assert varied.min() >= -1e-3 and varied.max() <= 255 + 1e-3
    assert not np.allclose(varied, images)
    np.testing.assert_array_equal(np.asarray(augment(images, training=False)), images)


def test_seller_augmentation_pulls_corners_white_blurs_and_greys():
    seller = finetune.augmentation(seed=2, kind="seller")
    perspective, blur, grey = seller.layers[:3]
    assert [type(layer).__name__ for layer in (perspective, blur, grey)] == [
        "RandomPerspective", "RandomGaussianBlur", "RandomGrayscale"]
    pulled = np.asarray(perspective(np.zeros((16, SIZE, SIZE, 3), np.float32), training=True))
    assert 0 < (pulled == 255).mean() < 0.5  # the corners a pulled photo no longer covers are white
    assert len(finetune.augmentation(seed=2).layers) == len(seller.layers) - 3


def test_phase_one_trains_only_the_head(nets):
    finetune.freeze_backbone(nets.backbone)
    assert nets.backbone.trainable_weights == []
    assert {w.path.split("/")[0] for w in nets.head.trainable_weights} == {"embedding_dense"}
    assert {w.path.split("/")[0] for w in nets.trainer.trainable_weights} == {"embedding_dense"}


def test_phase_two_trains_top_blocks_with_batch_norm_frozen(nets):
    trained = finetune.unfreeze_top_blocks(nets.backbone, "efficientnet_lite0", 2)
    assert trained and all(layer.name.startswith(("block14_", "block15_", "head_", "avg_pool")) for layer in trained)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in trained)
    assert all(not layer.trainable for layer in nets.backbone.layers
               if isinstance(layer, keras.layers.BatchNormalization))
    watched = {name: nets.backbone.get_layer(name).get_weights()[0].copy()
               for name in ("block13_project_conv", "block15_project_conv")}
    moving_mean = nets.backbone.get_layer("block15_project_bn").moving_mean.numpy().copy()
    nets.trainer.compile(optimizer=keras.optimizers.SGD(0.1), loss=nets.loss)
    nets.trainer.fit(photos(6), np.array([0, 0, 1, 1, 2, 2]), epochs=1, batch_size=6, verbose=0)
    np.testing.assert_array_equal(nets.backbone.get_layer("block13_project_conv").get_weights()[0],
                                  watched["block13_project_conv"])
    assert not np.array_equal(nets.backbone.get_layer("block15_project_conv").get_weights()[0],
                              watched["block15_project_conv"])
    np.testing.assert_array_equal(nets.backbone.get_layer("block15_project_bn").moving_mean.numpy(), moving_mean)


def test_supervised_contrastive_loss_on_hand_made_batches():
    loss = finetune.supervised_contrastive_loss(temperature=0.1)
    same = np.tile([[1.0, 0.0]], (4, 1)).astype(np.float32)
    # Four identical vectors: each positive is one of three equally likely others.
    assert float(loss(np.array([0, 0, 1, 1]), same)) == pytest.approx(math.log(3), rel=1e-5)
    apart = np.array([[1, 0], [1, 0], [-1, 0], [-1, 0]], np.float32)
    assert float(loss(np.array([0, 0, 1, 1]), apart)) < 1e-6
    assert float(loss(np.array([0, 1, 2, 3]), apart)) == 0.0  # no photo has a positive


def softmax_loss(true, others, scale=16.0):
    return -math.log(math.exp(scale * true) / (math.exp(scale * true) + sum(math.exp(scale * c) for c in others)))


def test_cosine_losses_lower_the_true_class_by_their_margin():
    cosines = np.array([[0.5, 0.4, 0.0]], np.float32)

    def value(**margins):
        return float(np.mean(finetune.margin_softmax_loss(3, 16.0, **margins)(np.array([0]), cosines)))
    assert value() == pytest.approx(softmax_loss(0.5, [0.4, 0.0]), rel=1e-4)
    # CosFace: the true class's 0.5 counts as 0.3, below the wrong class's 0.4.
    assert value(margin=0.2) == pytest.approx(softmax_loss(0.3, [0.4, 0.0]), rel=1e-4)
    # ArcFace: its angle acos(0.5) = 60 degrees counts as 60 + 17.2.
    assert value(angular_margin=0.3) == pytest.approx(softmax_loss(math.cos(math.acos(0.5) + 0.3), [0.4, 0.0]),
                                                      rel=1e-4)
    # Past 180 degrees less the margin the angle would wrap round; the loss must still grow as the cosine falls.
    worse = finetune.margin_softmax_loss(3, 16.0, angular_margin=0.3)(np.array([0, 0]),
                                                                     np.array([[-0.97, 0, 0], [-0.99, 0, 0]], "float32"))
    assert float(worse[1]) > float(worse[0])


@pytest.mark.parametrize("loss", ["normsoftmax", "arcface", "subcenter_arcface"])
def test_cosine_heads_give_one_cosine_per_class(loss):
    keras.utils.set_random_seed(0)
    backbone = build_backbone("efficientnet_lite0", SIZE, cache_dir=None)
    nets = finetune.Networks(backbone, n_classes=3, loss=loss, embedding_dim=8, seed=0)
    cosines = nets.trainer.predict(photos(4), verbose=0)
    assert cosines.shape == (4, 3) and np.all(np.abs(cosines) <= 1 + 1e-5)
    assert nets.network.predict(photos(2), verbose=0).shape[1] > 8  # the saved network is the same for every loss


def test_saved_network_reloads_with_identical_features(nets, tmp_path, settings):
    settings.finetuned_model.parent.mkdir(parents=True)
    nets.network.save(settings.finetuned_model)
    images = photos(3, seed=5)
    for layer in FEATURE_LAYERS:
        reloaded = features.load_feature_extractor(settings.finetuned_model, layer)
        in_memory = keras.Model(nets.network.input, nets.network.get_layer(layer).output)
        np.testing.assert_allclose(reloaded.predict_on_batch(images), in_memory.predict_on_batch(images), atol=1e-6)
    combined = np.asarray(nets.network.predict_on_batch(images))
    np.testing.assert_allclose(np.linalg.norm(combined[:, :-8], axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(combined[:, -8:], axis=1), 1, atol=1e-5)
    with pytest.raises(ValueError, match="feature layer"):
        features.load_feature_extractor(settings.finetuned_model, "classes")


def test_fine_tune_runs_both_phases_and_writes_history_and_curve(settings, capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)  # progress bars show on a terminal
    settings = settings.replace(head_epochs=2, epochs=1, augmented_views=2, finetune_blocks=1, embedding_dim=8)
    make_demo(settings.raw_img, n_models=4, photos_per_model=4, seed=3)
    stages.make_labels(settings)
    stages.preprocess(settings)
    stages.make_training_folders(settings)
    frame = stages.fine_tune(settings)
    history = pd.read_csv(settings.models / "history.csv")
    assert list(history["phase"]) == ["head", "head", "top_blocks"] == list(frame["phase"])
    assert {"epoch", "loss", "val_loss", "seconds"} <= set(history.columns)
    assert (settings.models / "learning_curve.png").stat().st_size > 1000
    assert visual.plot_learning_curve(frame, settings.models / "again.png") == ["phase head", "phase top blocks"]
    assert settings.finetuned_model.is_file()
    shown = capsys.readouterr().err
    assert "02 head: 100%" in shown and "2/2" in shown
    assert "02 top blocks epoch 1/1: 100%" in shown


def test_bad_loss_name_is_refused_before_any_work(settings):
    with pytest.raises(ValueError, match="EMBEDDING_LOSS is 'triplet': 'triplet' is not valid; it must be one of "
                                         "supcon, normsoftmax, cosface, arcface, subcenter_arcface"):
        pipeline.run_stage("02", settings.replace(embedding_loss="triplet"))
    assert not settings.data.exists()


def test_validation_holds_out_a_share_of_every_model_in_mixed_order():
    targets = np.repeat(np.arange(4), 10)
    train, validation = finetune.training_and_validation_rows(targets, 0.2, seed=0)
    assert sorted(np.concatenate([train, validation])) == list(range(40))
    assert np.bincount(targets[validation]).tolist() == [2, 2, 2, 2]
    # A contrastive loss needs several models per batch; sorted rows would give batches of one.
    assert len(set(targets[validation[:4]])) > 1
    again = finetune.training_and_validation_rows(targets, 0.2, seed=0)
    assert np.array_equal(again[1], validation)


def test_too_few_known_photos_skip_fine_tuning_with_a_warning(settings, caplog):
    make_demo(settings.raw_img, n_models=4, photos_per_model=3, seed=2)
    stages.make_labels(settings)
    stages.preprocess(settings)
    stages.make_training_folders(settings)
    settings.models.mkdir(parents=True)
    (settings.models / "finetuned.keras").write_bytes(b"an older network")
    history = stages.fine_tune(settings.replace(min_finetune_photos=7))
    assert history.empty and not settings.finetuned_model.exists()
    assert "only 6 photos of 2 known models" in caplog.text and "skipped" in caplog.text


def test_without_named_photos_fine_tuning_steps_aside_and_says_why(settings, caplog):
    make_demo(settings.raw_img, n_models=2, photos_per_model=3, seed=2)
    for number, photo in enumerate(sorted(settings.raw_img.iterdir())):
        photo.rename(photo.with_name(f"IMG_{number:04d}.jpg"))
    stages.make_labels(settings)
    stages.preprocess(settings)
    stages.make_training_folders(settings)
    assert pipeline.run_stage("02", settings).empty
    assert not settings.finetuned_model.exists()
    assert (f"02: no known model to learn from (no photo of {settings.raw_img} is named MODELID_PRODUCTID_IMAGEID): "
            "skipped; stage 03 uses the plain pretrained efficientnet_lite0") in caplog.text


@pytest.mark.parametrize("per_batch, expected", [
    (True, r"02 top blocks epoch 1/2: loss \d+\.\d{3} \(\d+\.\d s\)\n02 top blocks epoch 2/2: loss"),
    (False, r"^02 top blocks: 2 epochs in \d+\.\d s, the last: loss \d+\.\d{3}$"),
])
def test_off_a_terminal_the_epochs_are_logged_as_they_end(per_batch, expected, caplog):
    caplog.set_level("INFO")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 3)), np.ones(4), epochs=2, batch_size=2, verbose=0,
              callbacks=[finetune.TrainingProgress("02 top blocks", per_batch=per_batch)])
    assert re.search(expected, "\n".join(caplog.messages), re.M), caplog.messages
