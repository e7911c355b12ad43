"""Stage 03: one feature vector per photo, in image-list order.

Uses the fine-tuned network when one exists, else the plain pretrained backbone (said in
the log and in features.json). From the fine-tuned network it reads `feature_layer`:
"combined" (the backbone's pooled features beside the learnt embedding, each of unit length)
groups unseen models best on the Fashion-MNIST benchmark (docs/decisions.md). Every vector is
L2-normalised by default, so distances compare directions, as the embedding was trained.
Rows go straight into a memory-mapped .npy file, so memory does not grow with the number
of photos; photos that cannot be read are listed as rejected and left out, and
feature_files.txt names the photo of every row.
"""
import logging

import numpy as np

from .backbones import build_backbone
from .batches import iter_batches
from .fileio import atomic_path, load_npy, read_json, require_file, write_json, write_lines
from .finetune import FEATURE_LAYERS, load_feature_extractor
from .labels import load_image_list
from .progress import progress_bar
from .rejected import record_rejected, rejected_frame

log = logging.getLogger(__name__)
STAGE = "03"


def feature_network(settings):
    """(network, description): the fine-tuned extractor if saved, else the pretrained backbone."""
    path = settings.finetuned_model
    if settings.feature_layer not in FEATURE_LAYERS:
        raise ValueError(f"FEATURE_LAYER must be one of {', '.join(FEATURE_LAYERS)}, got {settings.feature_layer!r}")
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


def extract_features(settings, normalize=True):
    """Write features.npy (float32, rows = readable photos in list order) and its companions."""
    files = load_image_list(settings)
    paths = [settings.img / name for name in files]
    missing = [name for name, path in zip(files, paths) if not path.exists()]
    if len(missing) == len(files):
        raise FileNotFoundError(f"none of the {len(files)} listed photos is in {settings.img}: "
                                "run 01_img_preprocess.py first")
    network, description = feature_network(settings)
    dim = network.output_shape[-1]
    with atomic_path(settings.data_file("features")) as tmp:  # not renamed into place if this raises
        rows, errors = _write_rows(network, paths, settings, tmp, dim, normalize)
        rejected = [{"file": files[row], "reason": error.reason} for row, error in errors]
        rejected += [{"file": name, "reason": "no preprocessed photo (rejected by stage 01)"} for name in missing]
        record_rejected(settings, STAGE, rejected_frame(rejected))
        if not rows:
            raise ValueError(f"none of the {len(files)} photos of {settings.img} could be read: the reasons are in "
                             f"{settings.data_file('rejected')}")
        if len(rows) < len(files):
            _compact(tmp, rows)
    kept = [files[row] for row in rows]
    write_lines(settings.data_file("feature_files"), kept)
    info = {**description, "backbone": settings.backbone, "image_size": settings.input_size,
            "normalized": normalize, "n_images": len(kept), "dim": dim, "rejected": len(rejected)}
    write_json(settings.data_file("features_info"), info)
    return info


def _write_rows(network, paths, settings, tmp, dim, normalize):
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
            vectors = np.asarray(network.predict_on_batch(images), dtype=np.float32)
            output[written:written + len(rows)] = _l2_normalize(vectors) if normalize else vectors
            written += len(rows)
            kept += [existing[row] for row in rows]
    output.flush()
    del output
    return kept, errors


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


def load_features(settings):
    """(features N x D, file names of the rows), checked against each other."""
    features = load_npy(settings.data_file("features"), stage_hint="03_extract_features.py")
    require_file(settings.data_file("feature_files"), stage_hint="03_extract_features.py")
    files = settings.data_file("feature_files").read_text(encoding="utf-8").splitlines()
    if len(files) != len(features):
        raise ValueError(f"{settings.data_file('features')} has {len(features)} rows but "
                         f"{settings.data_file('feature_files')} names {len(files)} photos: rerun 03_extract_features.py")
    return features, files
