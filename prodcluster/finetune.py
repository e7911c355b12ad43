"""Stage 02: fine-tune a pretrained backbone on the known product models.

The network learns to tell known models apart under the ways sellers vary a photo
(augmentation), so that photos of one model land close together in its embedding.
The backbone stays frozen; its outputs for a few augmented views of every photo are
computed once and cached, so the new head trains for many epochs in seconds.
"""
import logging

import keras
import numpy as np
import pandas as pd
from tqdm import tqdm

from .backbones import build_backbone
from .batches import iter_batches
from .fileio import atomic_path, write_csv, write_json
from .split import KNOWN, load_split

log = logging.getLogger(__name__)

EMBEDDING_LAYER = "embedding"
BACKBONE_LAYER = "backbone_features"
AUGMENTED_VIEWS = 4


def augmentation(seed):
    """How sellers vary one model's photo: mirror, turn, zoom, shift, light and colour."""
    return keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomRotation(0.04, fill_mode="constant", fill_value=255.0, seed=seed),
        keras.layers.RandomZoom((-0.2, 0.2), fill_mode="constant", fill_value=255.0, seed=seed),
        keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", fill_value=255.0, seed=seed),
        keras.layers.RandomColorJitter(value_range=(0, 255), brightness_factor=0.15, contrast_factor=0.15,
                                       saturation_factor=(0.3, 0.7), hue_factor=0.1, seed=seed),
    ], name="augmentation")


def build_model(backbone, n_classes, embedding_dim=256, seed=42):
    """Full network: augmentation -> backbone -> embedding -> class probabilities.

    Returns (model, head): `head` maps backbone features to class probabilities and shares
    its layers with `model`, so training it on cached features trains the model's head.
    """
    size = backbone.input_shape[1]
    feature_dim = backbone.output_shape[-1]
    head_layers = [
        keras.layers.Dropout(0.2, seed=seed),
        keras.layers.Dense(embedding_dim, name=EMBEDDING_LAYER),
        keras.layers.ReLU(),
        keras.layers.Dense(n_classes, activation="softmax", name="classes"),
    ]
    inputs = keras.Input((size, size, 3), name="image")
    features = keras.layers.Identity(name=BACKBONE_LAYER)(backbone(augmentation(seed)(inputs), training=False))
    cached = keras.Input((feature_dim,), name="backbone_output")
    return (keras.Model(inputs, _apply(head_layers, features), name="finetuned"),
            keras.Model(cached, _apply(head_layers, cached), name="head"))


def _apply(layers, tensor):
    for layer in layers:
        tensor = layer(tensor)
    return tensor


def training_photos(settings):
    """Known models' preprocessed photos and their class indices, from the split and class folders."""
    split = load_split(settings)
    classes = sorted(split.loc[split["role"] == KNOWN, "model_id"])
    if len(classes) < 2:
        raise ValueError(f"fine-tuning needs at least 2 known models, {settings.data_file('split')} has "
                         f"{len(classes)}: raise TRAIN_FRACTION or add models")
    rows = [(path, index) for index, model_id in enumerate(classes)
            for path in sorted((settings.train_img / model_id).glob("*"))]
    if not rows:
        raise FileNotFoundError(f"no photos under {settings.train_img}: run make_training_image_folders.py first")
    paths, targets = zip(*rows)
    return classes, list(paths), np.array(targets)


def validation_mask(targets, fraction, seed):
    """Hold out `fraction` of each class's photos (at least one photo stays for training)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(targets), dtype=bool)
    for label in np.unique(targets):
        members = rng.permutation(np.flatnonzero(targets == label))
        mask[members[:min(int(round(fraction * len(members))), len(members) - 1)]] = True
    return mask


def cached_backbone_outputs(backbone, augment, paths, settings, views):
    """Backbone outputs of `views` augmented copies of every photo (the first copy unaugmented)."""
    outputs = np.zeros((views, len(paths), backbone.output_shape[-1]), np.float32)
    batches = iter_batches(paths, settings.input_size, settings.batch_size, settings.max_image_pixels)
    for rows, images, errors in tqdm(batches, total=-(-len(paths) // settings.batch_size), desc="02 backbone"):
        if errors:
            raise errors[0][1]
        for view in range(views):
            shown = images if view == 0 else augment(images, training=True)
            outputs[view, rows] = backbone.predict_on_batch(shown)
    return outputs


def fine_tune(settings):
    """Train the head on cached backbone outputs; save the model, its classes and history."""
    keras.utils.set_random_seed(settings.seed)
    classes, paths, targets = training_photos(settings)
    backbone = build_backbone(settings.backbone, settings.input_size,
                              settings.backbone_weights.get(settings.backbone), settings.cache)
    backbone.trainable = False
    model, head = build_model(backbone, len(classes), seed=settings.seed)
    held_out = validation_mask(targets, settings.validation_fraction, settings.seed)
    outputs = cached_backbone_outputs(backbone, model.get_layer("augmentation"), paths, settings,
                                      AUGMENTED_VIEWS)
    train_x = outputs[:, ~held_out].reshape(-1, outputs.shape[-1])
    train_y = np.tile(targets[~held_out], AUGMENTED_VIEWS)
    validation = (outputs[0, held_out], targets[held_out]) if held_out.any() else None
    head.compile(optimizer=keras.optimizers.Adam(settings.learning_rate),
                 loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    monitor = "val_loss" if validation else "loss"
    history = head.fit(train_x, train_y, validation_data=validation, epochs=settings.epochs,
                       batch_size=settings.batch_size, shuffle=True, verbose=0, callbacks=[
                           keras.callbacks.EarlyStopping(monitor, patience=5, restore_best_weights=True)])
    save_model(model, settings)
    write_json(settings.models / "classes.json", {"classes": classes, "backbone": settings.backbone,
                                                   "image_size": settings.input_size})
    frame = pd.DataFrame(history.history).rename_axis("epoch").reset_index()
    write_csv(settings.models / "history.csv", frame)
    log.info("02: %d photos of %d known models, %d epochs, final %s", len(paths), len(classes),
             len(frame), {k: round(float(v), 4) for k, v in frame.iloc[-1].items() if k != "epoch"})
    return frame


def save_model(model, settings):
    with atomic_path(settings.models / "finetuned.keras") as tmp:
        model.save(tmp)


def load_feature_extractor(path, layer):
    """The fine-tuned network cut at `layer` (embedding or backbone_features), loaded in safe mode."""
    model = keras.models.load_model(path, safe_mode=True, compile=False)
    return keras.Model(model.input, model.get_layer(layer).output)
