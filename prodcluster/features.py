"""Stage 03's network and its vectors: one feature vector per readable photo.

Uses the fine-tuned network when one exists, else the plain pretrained backbone (said in
the log and in features.json). From the fine-tuned network it reads `feature_layer`:
"combined" (the backbone's pooled features beside the learnt embedding, each of unit length)
groups unseen models best on the Fashion-MNIST benchmark (docs/decisions.md). Every vector is
L2-normalised, so distances compare directions, as the embedding was trained.
Rows go straight into a memory-mapped .npy file, so memory does not grow with the number
of photos. Keras is imported only where a network is built (not where LiteRT finds it converted
already), and on a Ray cluster the driver writes the rows and never needs it.
"""
import logging
from pathlib import Path

import numpy as np

from .batches import iter_batches
from .fileio import read_json
from .progress import progress_bar
from .settings import BACKBONES, FEATURE_LAYERS

log = logging.getLogger(__name__)


def feature_source(settings):
    """Which network stage 03 reads, as features.json records it: the fine-tuned one if saved, else the backbone.

    Joined backbones: each one's record under "parts"; "source" is "mixed" where only some were fine-tuned."""
    parts = settings.parts()
    if len(parts) > 1:
        records = [feature_source(part) for part in parts]
        sources = {record["source"] for record in records}
        finetuned_on = [record["finetuned_on"] for record in records if "finetuned_on" in record]
        return {"source": sources.pop() if len(sources) == 1 else "mixed", "backbone": settings.backbone,
                **({"finetuned_on": finetuned_on[0]} if finetuned_on else {}), "parts": records}
    path = settings.finetuned_model
    network = {"backbone": settings.backbone, "image_size": settings.input_size}
    if settings.use_finetuned and path.is_file():
        _check_same_backbone(path, settings)
        return {"source": "finetuned", "model": str(path.relative_to(settings.root)), "layer": settings.feature_layer,
                "finetuned_on": settings.finetuned_from or settings.dataset, **network}
    return {"source": "pretrained", "model": settings.backbone, "layer": "pooled", **network}


def feature_network(settings, threads=None):
    """(network, runtime): the network of `feature_source`, run by the RUNTIME setting (or Keras, its fallback).

    `threads`: how many CPU threads LiteRT may use (default: all)."""
    from .runtime import for_runtime
    if feature_source(settings)["source"] == "finetuned":
        log.info("03: features from the fine-tuned network %s (layer %s)", settings.finetuned_model,
                 settings.feature_layer)
        return for_runtime(lambda: load_feature_extractor(settings.finetuned_model, settings.feature_layer),
                           settings.runtime, settings.cache,
                           (settings.finetuned_model, f"layer {settings.feature_layer}"), threads)
    if settings.use_finetuned:
        log.info("03: no fine-tuned network at %s; using the plain pretrained %s", settings.finetuned_model,
                 settings.backbone)
    else:
        log.info("03: USE_FINETUNED is off (--skip-finetune): using the plain pretrained %s", settings.backbone)
    return for_runtime(lambda: _pretrained_backbone(settings), settings.runtime, settings.cache,
                       _backbone_sources(settings), threads)


def _pretrained_backbone(settings):
    from .backbones import build_backbone
    return build_backbone(settings.backbone, settings.input_size, settings.backbone_weights.get(settings.backbone),
                          settings.cache)


def _backbone_sources(settings):
    """What the pretrained backbone is made from: its code, its weights file, its name and input size."""
    code = tuple(Path(__file__).with_name(module) for module in BACKBONES[settings.backbone].code)
    return (*code, _weights_source(settings), f"{settings.backbone} at {settings.input_size} px")


def _weights_source(settings):
    local = settings.backbone_weights.get(settings.backbone)
    if local:
        return Path(local)
    if BACKBONES[settings.backbone].offline:
        from .torch_weights import installed_checkpoint
        return installed_checkpoint(BACKBONES[settings.backbone].weights)
    from .backbones import downloaded_weights  # Keras' own files: TensorFlow is imported anyway
    return downloaded_weights(settings.backbone, settings.cache)


def _check_same_backbone(path, settings):
    saved = read_json(path.parent / "classes.json")
    if (saved["backbone"], saved["image_size"]) != (settings.backbone, settings.input_size):
        raise ValueError(f"{path} was fine-tuned from {saved['backbone']} at {saved['image_size']} px but the "
                         f"settings ask for {settings.backbone} at {settings.input_size} px: rerun "
                         "02_feature_network_fine_tuning.py or change BACKBONE / IMAGE_SIZE")


def vectors_here(network, paths, settings):
    """Yield (rows, vectors, [(row, reason)]) batch by batch, `network` running in this process."""
    batches = iter_batches(paths, settings.input_size, settings.batch_size, settings.max_image_pixels)
    for rows, images, errors in batches:
        vectors = photo_vectors(network, images, settings.test_time_flip) if len(rows) else None
        yield rows, vectors, [(row, error.reason) for row, error in errors]


def write_features(photo_vectors, settings, paths, tmp):
    """Write the vectors of the photos at `paths` into the .npy file `tmp`, joined backbones side by side.

    photo_vectors(paths, settings) yields one backbone's batches (see `write_rows`). Joined, each
    backbone's vectors are of unit length and scaled by 1/sqrt(backbones), so
    each backbone weighs the same and the whole row is of unit length. Returns what `write_rows` does.
    """
    parts = settings.parts()
    if len(parts) == 1:
        return write_rows(photo_vectors(paths, settings), len(paths), tmp)
    part_files = [tmp.with_name(f"{tmp.stem}.{part.backbone}.npy") for part in parts]
    try:
        written = [write_rows(photo_vectors(paths, part), len(paths), path, f"03 {part.backbone}")
                   for part, path in zip(parts, part_files)]
        return _side_by_side(written, part_files, tmp, 1 / np.sqrt(len(parts)))
    finally:
        for path in part_files:
            path.unlink(missing_ok=True)


def _side_by_side(written, part_files, tmp, scale, chunk=4096):
    """Join the rows every backbone could read, column blocks in backbone order, into `tmp`."""
    errors = {}
    for _, part_errors, _ in written:
        for row, reason in part_errors:
            errors.setdefault(row, reason)
    kept = sorted(set.intersection(*(set(rows) for rows, _, _ in written)))
    if not kept:
        return [], sorted(errors.items()), 0
    output = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32,
                                       shape=(len(kept), sum(dim for _, _, dim in written)))
    column = 0
    for (rows, _, dim), path in zip(written, part_files):
        vectors, where = np.load(path, mmap_mode="r"), np.searchsorted(rows, kept)
        for start in range(0, len(kept), chunk):
            output[start:start + chunk, column:column + dim] = vectors[where[start:start + chunk]] * scale
        column += dim
        del vectors
    output.flush()
    del output
    return kept, sorted(errors.items()), column


def write_rows(batches, n_rows, tmp, desc="03 features"):
    """Write each batch's vectors, of unit length, at their rows of the .npy file `tmp`; keep only the rows written.

    `batches` yields (rows, vectors, [(row, reason)]) in any order. Returns (rows kept, in
    order; [(row, reason)] of the photos that could not be read; vector length).
    """
    output, kept, errors = None, [], []
    with progress_bar(total=n_rows, desc=desc, unit="photo") as bar:
        for rows, vectors, batch_errors in batches:
            bar.update(len(rows) + len(batch_errors))
            errors += batch_errors
            if len(rows):
                if output is None:
                    output = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32,
                                                       shape=(n_rows, vectors.shape[1]))
                output[np.asarray(rows)] = _l2_normalize(vectors)
                kept += [int(row) for row in rows]
    if output is None:
        return [], errors, 0
    output.flush()
    dim = output.shape[1]
    del output
    kept.sort()
    if len(kept) < n_rows:
        _compact(tmp, kept)
    return kept, errors, dim


def photo_vectors(network, images, flip=False):
    """The network's vectors of a batch; with `flip`, the mean of each photo's and its mirror image's."""
    vectors = np.asarray(network.predict_on_batch(images), dtype=np.float32)
    if flip:
        vectors = (vectors + np.asarray(network.predict_on_batch(images[:, :, ::-1]), dtype=np.float32)) / 2
    return vectors


def _compact(tmp, rows):
    """Keep only `rows` of the .npy file `tmp`, in their order."""
    full = np.load(tmp, mmap_mode="r")
    kept = np.array(full[rows])
    del full
    with open(tmp, "wb") as handle:
        np.save(handle, kept, allow_pickle=False)


def _l2_normalize(vectors):
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def load_feature_extractor(path, layer):
    """The fine-tuned network cut at `layer` (one of FEATURE_LAYERS), loaded in safe mode."""
    from .quiet import import_keras
    keras = import_keras()
    if layer not in FEATURE_LAYERS:
        raise ValueError(f"feature layer must be one of {', '.join(FEATURE_LAYERS)}, got {layer!r}")
    model = keras.models.load_model(path, safe_mode=True, compile=False)
    return keras.Model(model.input, model.get_layer(layer).output)
