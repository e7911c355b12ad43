"""Stage 02: fine-tune a pretrained backbone so that photos of one product model land close together.

What counts is how the features group models the network never saw, so the network learns an
L2-normalised embedding with a loss on distances: "supcon" (default; supervised contrastive,
Khosla et al., 2020), or a softmax over cosines to learnt class vectors: "normsoftmax" (no
margin, Zhai and Wu, 2019), "cosface" (an additive margin on the true class's cosine, Wang et
al., 2018), "arcface" (an angular margin, Deng et al., 2019) or "subcenter_arcface" (three
vectors per class, the nearest counts, Deng et al., 2020).
Two phases each hold out `validation_fraction` of every known model's photos, stop early on the
validation loss and keep their best weights:

1. Head: the backbone is frozen; its outputs for `augmented_views` augmented copies of every
   photo are cached, so the head trains for many epochs in seconds.
2. Top blocks: the last `finetune_blocks` blocks train with the head at the low
   `finetune_learning_rate`, photos augmented on the fly; batch-norm layers stay frozen, since
   statistics of small batches of a few models would blur what ImageNet taught.

The saved network holds Keras' own layers only, so it loads in safe mode. Stage 03 reads one of
its FEATURE_LAYERS: the embedding, the backbone's pooled features, or both side by side. The
measurements behind these defaults are in docs/decisions.md.
"""
import logging
import math
import time

import numpy as np
import pandas as pd

from .arrays import per_class_mask
from .backbones import build_backbone, top_block_layers
from .batches import iter_batches, load_for_network
from .progress import progress_bar
from .quiet import import_keras, native_notes_hidden
from .settings import DEFAULTS, EMBEDDING_LOSSES, FEATURE_LAYERS, check_whole

keras = import_keras()
ops = keras.ops

log = logging.getLogger(__name__)

COMBINED_LAYER, EMBEDDING_LAYER, BACKBONE_LAYER = FEATURE_LAYERS
SUPCON_TEMPERATURE = 0.1
# Cosine-softmax losses: (scale, margin taken off the true class's cosine, margin added to its
# angle in radians, vectors per class). Scales and margins as their papers use them.
COSINE_LOSSES = {"normsoftmax": (20.0, 0.0, 0.0, 1), "cosface": (16.0, 0.2, 0.0, 1), "arcface": (16.0, 0.0, 0.3, 1),
                 "subcenter_arcface": (16.0, 0.0, 0.3, 3)}
MIN_FINETUNE_MODELS = 2  # a contrastive loss needs photos of another model to push from
HEAD_BATCH_SIZE = 256  # cached vectors are cheap, and a contrastive batch needs many positives
DROPOUT = 0.2


def augmentation(seed, kind=DEFAULTS.augmentations):
    """How sellers vary one model's photo: mirror, turn, zoom, shift, light and colour; `seller`
    adds what other cameras and angles do: pulled corners (perspective), soft focus and, now and
    then, a grey photo.

    Takes and returns float RGB 0..255 batches; active only in training. Uncovered corners
    are filled white, like the shop backgrounds. Colours shift because one model comes in
    several colours.
    """
    fill = {"fill_mode": "constant", "fill_value": 255.0, "seed": seed}
    extra = [keras.layers.RandomPerspective(factor=0.5, scale=0.3, fill_value=255.0, seed=seed),
             keras.layers.RandomGaussianBlur(factor=0.3, value_range=(0, 255), seed=seed),
             keras.layers.RandomGrayscale(factor=0.1, seed=seed)] if kind == "seller" else []
    return keras.Sequential(extra + [
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomRotation(0.04, **fill),
        keras.layers.RandomZoom((-0.2, 0.2), **fill),
        keras.layers.RandomTranslation(0.1, 0.1, **fill),
        keras.layers.RandomColorJitter(value_range=(0, 255), brightness_factor=0.15, contrast_factor=0.15,
                                       saturation_factor=(0.3, 0.7), hue_factor=0.1, seed=seed),
    ], name="augmentation")


class Networks:
    """The fine-tuning networks, sharing their layers.

    network: photo -> augmentation -> backbone -> features (the saved model, output `combined`).
    head: cached backbone output -> what the loss sees (phase 1).
    trainer: photo -> what the loss sees (phase 2).
    """

    def __init__(self, backbone, n_classes, loss=DEFAULTS.embedding_loss, embedding_dim=DEFAULTS.embedding_dim,
                 seed=DEFAULTS.seed, augmentations=DEFAULTS.augmentations):
        if loss not in EMBEDDING_LOSSES:
            raise ValueError(f"loss must be one of {', '.join(EMBEDDING_LOSSES)}, got {loss!r}")
        check_whole(embedding_dim, "embedding_dim", 2)
        self.backbone = backbone
        size = backbone.input_shape[1]
        embed = [keras.layers.Dropout(DROPOUT, seed=seed), keras.layers.Dense(embedding_dim, name="embedding_dense"),
                 keras.layers.UnitNormalization(name=EMBEDDING_LAYER)]
        to_loss = _loss_head(loss, n_classes)

        photos = keras.Input((size, size, 3), name="image")
        pooled = keras.layers.Identity(name=BACKBONE_LAYER)(backbone(augmentation(seed, augmentations)(photos)))
        embedding = _apply(embed, pooled)
        combined = keras.layers.Concatenate(name=COMBINED_LAYER)(
            [keras.layers.UnitNormalization(name="backbone_unit")(pooled), embedding])
        self.network = keras.Model(photos, combined, name="finetuned")
        self.trainer = keras.Model(photos, _apply(to_loss, embedding), name="trainer")
        cached = keras.Input((backbone.output_shape[-1],), name="backbone_output")
        self.head = keras.Model(cached, _apply(to_loss, _apply(embed, cached)), name="head")
        self.loss = _loss_function(loss, n_classes)


def _apply(layers, tensor):
    for layer in layers:
        tensor = layer(tensor)
    return tensor


def _loss_head(loss, n_classes):
    """Layers from the embedding to what the loss compares: nothing, or cosines to class vectors
    (with sub-centres, each class's nearest vector)."""
    if loss == "supcon":
        return []
    per_class = COSINE_LOSSES[loss][3]
    layers = [keras.layers.Dense(n_classes * per_class, use_bias=False,
                                 kernel_constraint=keras.constraints.UnitNorm(axis=0), name="class_cosines")]
    if per_class > 1:
        layers += [keras.layers.Reshape((n_classes, per_class)),
                   keras.layers.Lambda(lambda cosines: ops.max(cosines, axis=-1), name="nearest_sub_centre")]
    return layers


def _loss_function(loss, n_classes):
    if loss == "supcon":
        return supervised_contrastive_loss(SUPCON_TEMPERATURE)
    scale, margin, angular_margin, _ = COSINE_LOSSES[loss]
    return margin_softmax_loss(n_classes, scale, margin, angular_margin)


def supervised_contrastive_loss(temperature):
    """Loss(labels, unit embeddings): mean over anchors of -log p(positive) among the batch."""
    def loss(labels, embeddings):
        labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
        self_pairs = ops.eye(ops.shape(embeddings)[0], dtype=embeddings.dtype)
        positives = ops.cast(ops.equal(labels[:, None], labels[None, :]), embeddings.dtype) - self_pairs
        logits = ops.matmul(embeddings, ops.transpose(embeddings)) / temperature - 1e9 * self_pairs
        log_prob = logits - ops.logsumexp(logits, axis=1, keepdims=True)
        n_positives = ops.sum(positives, axis=1)
        per_anchor = -ops.sum(positives * log_prob, axis=1) / ops.maximum(n_positives, 1.0)
        anchors = ops.cast(n_positives > 0, embeddings.dtype)  # photos alone of their model in the batch count 0
        return ops.sum(per_anchor * anchors) / ops.maximum(ops.sum(anchors), 1.0)
    return loss


def margin_softmax_loss(n_classes, scale, margin=0.0, angular_margin=0.0):
    """Loss(labels, cosines to the class vectors): softmax of scale x cosine, the true class's
    angle widened by `angular_margin` and its cosine lowered by `margin`."""
    def loss(labels, cosines):
        onehot = ops.one_hot(ops.reshape(ops.cast(labels, "int32"), (-1,)), n_classes)
        true = cosines
        if angular_margin:
            clipped = ops.clip(cosines, -1.0 + 1e-6, 1.0 - 1e-6)
            widened = ops.cos(ops.arccos(clipped) + angular_margin)
            # past pi - margin the angle would wrap round; there the margin falls back to a cosine one
            true = ops.where(clipped > math.cos(math.pi - angular_margin), widened,
                             clipped - angular_margin * math.sin(angular_margin))
        true = true - margin
        logits = scale * (cosines + onehot * (true - cosines))
        return keras.losses.categorical_crossentropy(onehot, logits, from_logits=True)
    return loss


def freeze_backbone(backbone):
    """Phase 1: no backbone weight trains."""
    backbone.trainable = False


def unfreeze_top_blocks(backbone, name, n_blocks):
    """Phase 2: the last `n_blocks` blocks train, batch-norm layers stay frozen; returns the trained layers."""
    backbone.trainable = True
    top = {id(layer) for layer in top_block_layers(backbone, name, n_blocks)}
    for layer in backbone.layers:
        layer.trainable = id(layer) in top and not isinstance(layer, keras.layers.BatchNormalization)
    return [layer for layer in backbone.layers if layer.trainable]


def class_photos(classes, train_root):
    """(photo paths, class index of each) from one sub-folder of `train_root` per class."""
    rows = [(path, index) for index, model_id in enumerate(classes)
            for path in sorted((train_root / model_id).glob("*"))]
    if not rows:
        raise FileNotFoundError(f"no photos under {train_root}: run make_training_image_folders.py first")
    paths, targets = zip(*rows)
    return list(paths), np.array(targets)


def validation_mask(targets, fraction, seed):
    """Hold out `fraction` of each class's photos (at least one photo stays for training)."""
    if not 0 <= fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {fraction!r}")
    return per_class_mask(targets, lambda photos: min(int(round(fraction * photos)), photos - 1), seed)


def training_and_validation_rows(targets, fraction, seed):
    """(training rows, validation rows) of the photos, the validation rows in a seeded mixed order.

    A contrastive loss compares the photos of one batch: batches cut from photos sorted by model
    would hold one model each, their loss would be the same whatever the network learnt, and early
    stopping would follow noise.
    """
    held_out = validation_mask(targets, fraction, seed)
    return np.flatnonzero(~held_out), np.random.default_rng(seed).permutation(np.flatnonzero(held_out))


def cached_backbone_outputs(backbone, augment, paths, settings, views):
    """Backbone outputs of `views` augmented copies of every photo (the first copy unaugmented)."""
    outputs = np.zeros((views, len(paths), backbone.output_shape[-1]), np.float32)
    batches = iter_batches(paths, settings.input_size, settings.batch_size, settings.max_image_pixels)
    n_batches = -(-len(paths) // settings.batch_size)
    log.info("02 head: %d photos, %d views each, through the frozen backbone", len(paths), views)
    for rows, images, errors in progress_bar(batches, total=n_batches, desc="02 backbone"):
        if errors:
            raise errors[0][1]
        for view in range(views):
            shown = images if view == 0 else augment(images, training=True)
            outputs[view, rows] = backbone.predict_on_batch(shown)
    return outputs


class PhotoBatches(keras.utils.PyDataset):
    """(photos, class indices) batches read from disk, in a new seeded order every epoch when shuffled."""

    def __init__(self, paths, targets, settings, shuffle_seed=None):
        super().__init__()
        self.paths, self.targets, self.settings = list(paths), np.asarray(targets), settings
        self.rng = None if shuffle_seed is None else np.random.default_rng(shuffle_seed)
        self.order = np.arange(len(self.paths))
        self.on_epoch_end()

    def __len__(self):
        return math.ceil(len(self.paths) / self.settings.batch_size)

    def __getitem__(self, index):
        size = self.settings.batch_size
        rows = self.order[index * size:(index + 1) * size]
        images = [load_for_network(self.paths[row], self.settings.input_size, self.settings.max_image_pixels)
                  for row in rows]
        return np.stack(images).astype(np.float32), self.targets[rows]

    def on_epoch_end(self):
        if self.rng is not None:
            self.order = self.rng.permutation(len(self.paths))


def enough_to_learn(n_classes, n_photos, settings):
    """Whether the known models can teach the network; a warning says why not."""
    if n_classes >= MIN_FINETUNE_MODELS and n_photos >= settings.min_finetune_photos:
        return True
    log.warning("02: only %d photos of %d known models (fine-tuning needs at least %d photos, "
                "MIN_FINETUNE_PHOTOS, and %d models): skipped; stage 03 uses the plain pretrained backbone",
                n_photos, n_classes, settings.min_finetune_photos, MIN_FINETUNE_MODELS)
    return False


def fine_tune(paths, targets, n_classes, settings):
    """Train the head, then the top blocks; return (the network to save, the history of both phases).

    Seeded and run with TensorFlow's deterministic ops, so the same photos and settings give the
    same network on the same machine."""
    import tensorflow as tf
    keras.utils.set_random_seed(settings.seed)
    tf.config.experimental.enable_op_determinism()
    backbone = build_backbone(settings.backbone, settings.input_size,
                              settings.backbone_weights.get(settings.backbone), settings.cache)
    nets = Networks(backbone, n_classes, settings.embedding_loss, settings.embedding_dim, settings.seed,
                    settings.augmentations)
    rows = training_and_validation_rows(targets, settings.validation_fraction, settings.seed)
    histories = [_train_head(nets, paths, targets, rows, settings)]
    if settings.finetune_blocks and settings.epochs:
        histories.append(_train_top_blocks(nets, paths, targets, rows, settings))
    frame = pd.concat(histories, ignore_index=True)
    log.info("02: %s on %d photos of %d models; %s", settings.backbone, len(paths), n_classes,
             ", ".join(f"{phase}: {len(rows)} epochs" for phase, rows in frame.groupby("phase", sort=False)))
    return nets.network, frame


def _train_head(nets, paths, targets, rows, settings):
    """Phase 1 on cached backbone outputs of augmented views."""
    freeze_backbone(nets.backbone)
    views = settings.augmented_views
    outputs = cached_backbone_outputs(nets.backbone, nets.network.get_layer("augmentation"), paths, settings, views)
    train_rows, validation_rows = rows
    train_x = outputs[:, train_rows].reshape(-1, outputs.shape[-1])
    train_y = np.tile(targets[train_rows], views)
    validation = (outputs[0, validation_rows], targets[validation_rows]) if len(validation_rows) else None
    nets.head.compile(optimizer=keras.optimizers.Adam(settings.learning_rate), loss=nets.loss)
    with native_notes_hidden():
        history = nets.head.fit(train_x, train_y, validation_data=validation, epochs=settings.head_epochs,
                                batch_size=HEAD_BATCH_SIZE, shuffle=True, verbose=0,
                                callbacks=_callbacks(validation, settings, "02 head"))
    return _history_frame(history, "head")


def _train_top_blocks(nets, paths, targets, rows, settings):
    """Phase 2 on photos augmented on the fly, top blocks unfrozen at a low learning rate."""
    unfreeze_top_blocks(nets.backbone, settings.backbone, settings.finetune_blocks)
    paths = np.array(paths, dtype=object)
    train_rows, validation_rows = rows
    train = PhotoBatches(paths[train_rows], targets[train_rows], settings, shuffle_seed=settings.seed)
    validation = None
    if len(validation_rows):
        validation = PhotoBatches(paths[validation_rows], targets[validation_rows], settings)
    nets.trainer.compile(optimizer=keras.optimizers.Adam(settings.finetune_learning_rate), loss=nets.loss)
    with native_notes_hidden():
        history = nets.trainer.fit(train, validation_data=validation, epochs=settings.epochs, verbose=0,
                                   callbacks=_callbacks(validation, settings, "02 top blocks", per_batch=True))
    return _history_frame(history, "top_blocks")


class TrainingProgress(keras.callbacks.Callback):
    """Adds each epoch's wall time (training and validation) to the history as `seconds`, and shows progress.

    On a terminal the bar counts epochs, or with `per_batch` the batches of each epoch (for
    epochs of minutes). Elsewhere (a log file) each such long epoch is logged as it ends, and a
    phase of short epochs once, at its end.
    """

    def __init__(self, desc, per_batch=False):
        super().__init__()
        self.desc, self.per_batch, self.bar, self.last = desc, per_batch, None, {}

    def on_train_begin(self, logs=None):
        self.began = time.perf_counter()
        if not self.per_batch:
            self.bar = progress_bar(total=self.params["epochs"], desc=self.desc, unit="epoch")

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()
        if self.per_batch:
            self.bar = progress_bar(total=self.params["steps"], unit="batch",
                                    desc=f"{self.desc} epoch {epoch + 1}/{self.params['epochs']}")

    def on_train_batch_end(self, batch, logs=None):
        if self.per_batch:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{logs['loss']:.3f}", refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        logs["seconds"] = time.perf_counter() - self.start
        self.last = {"epoch": epoch + 1, **logs}
        if self.per_batch:
            self.bar.close()
            if self.bar.disable:
                log.info("%s epoch %d/%d: %s (%.1f s)", self.desc, epoch + 1, self.params["epochs"], _losses(logs),
                         logs["seconds"])
        else:
            self.bar.update(1)
            self.bar.set_postfix({key: f"{value:.3f}" for key, value in logs.items() if key.endswith("loss")})

    def on_train_end(self, logs=None):
        if not self.per_batch:
            self.bar.close()
            if self.bar.disable and self.last:
                log.info("%s: %d epochs in %.1f s, the last: %s", self.desc, self.last["epoch"],
                         time.perf_counter() - self.began, _losses(self.last))


def _losses(logs):
    return ", ".join(f"{key} {value:.3f}" for key, value in logs.items() if key.endswith("loss"))


def _callbacks(validation, settings, desc, per_batch=False):
    return [TrainingProgress(desc, per_batch), _early_stopping(validation, settings)]


def _early_stopping(validation, settings):
    return keras.callbacks.EarlyStopping("val_loss" if validation is not None else "loss",
                                         patience=settings.early_stopping_patience, restore_best_weights=True)


def _history_frame(history, phase):
    frame = pd.DataFrame(history.history).rename_axis("epoch").reset_index()
    frame["epoch"] += 1
    frame.insert(0, "phase", phase)
    return frame
