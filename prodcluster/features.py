"""Stage 03's network and its vectors: one feature vector per readable photo.

Uses the fine-tuned network when one exists, else the plain pretrained backbone (said in
the log and in features.json). From the fine-tuned network it reads `feature_layer`:
"combined" (the backbone's pooled features beside the learnt embedding, each of unit length)
groups unseen models best on the Fashion-MNIST benchmark (docs/decisions.md). Every vector is
L2-normalised by default, so distances compare directions, as the embedding was trained.
Rows go straight into a memory-mapped .npy file, so memory does not grow with the number
of photos.
"""
import logging

import keras
import numpy as np

from .backbones import build_backbone
from .batches import iter_batches
from .fileio import read_json
from .progress import progress_bar
from .settings import FEATURE_LAYERS

log = logging.getLogger(__name__)


def feature_network(settings):
    """(network, description): the fine-tuned extractor if saved, else the pretrained backbone."""
    path = settings.finetuned_model
    if settings.use_finetuned and path.is_file():
        _check_same_backbone(path, settings)
        log.info("03: features from the fine-tuned network %s (layer %s)", path, settings.feature_layer)
        return load_feature_extractor(path, settings.feature_layer), {
            "source": "finetuned", "model": str(path.relative_to(settings.root)), "layer": settings.feature_layer,
            "finetuned_on": settings.finetuned_from or settings.dataset}
    log.info("03: no fine-tuned network at %s; using the plain pretrained %s", path, settings.backbone)
    network = build_backbone(settings.backbone, settings.input_size,
                             settings.backbone_weights.get(settings.backbone), settings.cache)
    return network, {"source": "pretrained", "model": settings.backbone, "layer": "pooled"}


def _check_same_backbone(path, settings):
    saved = read_json(path.parent / "classes.json")
    if (saved["backbone"], saved["image_size"]) != (settings.backbone, settings.input_size):
        raise ValueError(f"{path} was fine-tuned from {saved['backbone']} at {saved['image_size']} px but the "
                         f"settings ask for {settings.backbone} at {settings.input_size} px: rerun "
                         "02_feature_network_fine_tuning.py or change BACKBONE / IMAGE_SIZE")


def write_rows(network, paths, settings, tmp, normalize):
    """Write the vectors of the readable photos to the .npy file `tmp`; return (rows kept, [(row, ImageError)])."""
    dim = network.output_shape[-1]
    output = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(paths), dim))
    kept, errors = [], []
    existing = [i for i, path in enumerate(paths) if path.exists()]
    batches = iter_batches([paths[i] for i in existing], settings.input_size, settings.batch_size,
                           settings.max_image_pixels)
    written = 0
    for rows, images, batch_errors in progress_bar(batches, total=-(-len(existing) // settings.batch_size),
                                           desc="03 features"):
        errors += [(existing[row], error) for row, error in batch_errors]
        if len(rows):
            vectors = photo_vectors(network, images, settings.test_time_flip)
            output[written:written + len(rows)] = _l2_normalize(vectors) if normalize else vectors
            written += len(rows)
            kept += [existing[row] for row in rows]
    output.flush()
    del output
    if kept and len(kept) < len(paths):
        _compact(tmp, kept)
    return kept, errors


def photo_vectors(network, images, flip=False):
    """The network's vectors of a batch; with `flip`, the mean of each photo's and its mirror image's."""
    vectors = np.asarray(network.predict_on_batch(images), dtype=np.float32)
    if flip:
        vectors = (vectors + np.asarray(network.predict_on_batch(images[:, :, ::-1]), dtype=np.float32)) / 2
    return vectors


def _compact(tmp, rows):
    """Keep only the first len(rows) written rows (rows are written densely in order)."""
    full = np.load(tmp, mmap_mode="r")
    kept = np.array(full[:len(rows)])
    del full
    with open(tmp, "wb") as handle:
        np.save(handle, kept, allow_pickle=False)


def _l2_normalize(vectors):
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def load_feature_extractor(path, layer):
    """The fine-tuned network cut at `layer` (one of FEATURE_LAYERS), loaded in safe mode."""
    if layer not in FEATURE_LAYERS:
        raise ValueError(f"feature layer must be one of {', '.join(FEATURE_LAYERS)}, got {layer!r}")
    model = keras.models.load_model(path, safe_mode=True, compile=False)
    return keras.Model(model.input, model.get_layer(layer).output)
